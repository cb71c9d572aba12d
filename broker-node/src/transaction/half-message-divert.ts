/**
 * A send batch's half messages diverted on the put path (RocketMQ's TransactionalMessageBridge
 * .parseHalfMessageInner): each record with TRAN_MSG becomes a record under HALF_TOPIC, queue 0,
 * with its queue in REAL_TOPIC / REAL_QID (half-message.ts), and the record its commit will
 * append is made at the same time, so the usual quick commit reads nothing back.
 */
import {
  CirrusError,
  Field,
  MAX_PROPERTIES_LENGTH,
  MessageConst,
  type RecordShape,
  recordSize,
  SEND_BATCH_MAGIC,
  SEND_BATCH_VERSION,
  type SendBatch,
  hasPropertyPrefix,
} from '@cirrusmq/client/protocol';
import { HALF_TOPIC, sendBatchOfRecords } from './half-message';

const C = MessageConst;
const HALF_MARK = `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;
const HALF_MARK_BYTES = [Buffer.from(`${MessageConst.TRANSACTION_PREPARED}\u0001true`, 'latin1')];

/**
 * Which records may be half messages: those with a property starting `TRAN_MSG\u0001true`
 * (divertHalfMessages then reads the property as decodeProperties would). undefined: none.
 */
function halfMarks(batch: SendBatch): boolean[] | undefined {
  const { body, records } = batch;
  let marks: boolean[] | undefined;
  for (let i = 0; i < records.length; i++) {
    const { propertiesStart, propertiesLength } = records[i]!.shape;
    if (hasPropertyPrefix(body, propertiesStart, propertiesStart + propertiesLength, HALF_MARK_BYTES)) {
      if (!marks) marks = new Array<boolean>(records.length).fill(false);
      marks[i] = true;
    }
  }
  return marks;
}

export interface DivertedHalves {
  /** The records that are not half messages, for their own queue (undefined: none). */
  normal: SendBatch | undefined;
  /** The half messages, under HALF_TOPIC queue 0. */
  half: SendBatch;
  /** Each half message's id and producer group, in order. */
  halves: { messageId: string; producerGroup: string }[];
  /**
   * Each half message's record as its commit appends it (committedRecord of its stored record,
   * made from the send): CommitLog layout under the real topic, a view into one buffer per batch.
   */
  committed: Buffer[];
}

const PROPERTY_END = 0x02;
const TRAN_NAME = `${C.TRANSACTION_PREPARED}\u0001`;
const UNIQ_NAME = `${C.UNIQ_KEY}\u0001`;
const PGROUP_NAME = `${C.PRODUCER_GROUP}\u0001`;
const ID_NAME = Buffer.from(`${C.TRANSACTION_ID}\u0001`, 'latin1');
const HALF_TOPIC_BYTES = Buffer.from(HALF_TOPIC, 'latin1');
/** The send batch header (send-batch.ts): magic, version, topic length, queue id, record count. */
const BATCH_HEADER = 16;
/** Copies this short or shorter go byte by byte in JS: cheaper than a call into Buffer.copy. */
const SHORT_COPY = 48;

/**
 * Where the value of property `name` (with its name-value separator) lies in `props`, the
 * properties read as latin1 (one character a byte: an index is a byte offset): decodeProperties'
 * answer (the last property of that name) without decoding them. A name starts the properties
 * or follows a property's end (0x02, never part of a multi-byte UTF-8 sequence).
 */
function propertyValue(props: string, name: string): [number, number] | undefined {
  let from = props.length - name.length;
  while (from >= 0) {
    const at = props.lastIndexOf(name, from);
    if (at < 0) return undefined;
    if (at === 0 || props.charCodeAt(at - 1) === PROPERTY_END) {
      const start = at + name.length;
      const stop = props.indexOf('\u0002', start);
      return [start, stop < 0 ? props.length : stop];
    }
    from = at - 1;
  }
  return undefined;
}

/** A property value as decodeProperties gives it (UTF-8): the latin1 text itself when ASCII. */
function valueText(props: string, buf: Buffer, base: number, [start, end]: [number, number]): string {
  const text = props.slice(start, end);
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return buf.toString('utf8', base + start, base + end);
  return text;
}

function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n > SHORT_COPY) return src.copy(dst, at, start, end);
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
  return n;
}

/**
 * Writes, at `at`, a record's header and body copied from the record at `pos` of `src` for a
 * copy whose topic and properties change: as writeRecord writes a header (queue id, sysFlag,
 * born time and body length kept, the rest zero). The position after the body.
 */
function copyHeadAndBody(dst: Buffer, at: number, src: Buffer, pos: number, bodyLength: number, size: number, queueId: number): number {
  const end = at + src.copy(dst, at, pos, pos + Field.BODY + bodyLength);
  dst.writeInt32BE(size, at);
  dst.writeInt32BE(0, at + Field.CRC);
  dst.writeInt32BE(queueId, at + Field.QUEUEID);
  for (let f = Field.FLAG; f < Field.SYSFLAG; f += 4) dst.writeInt32BE(0, at + f);
  for (let f = Field.STORETIMESTAMP; f < Field.BODYLENGTH; f += 4) dst.writeInt32BE(0, at + f);
  return end;
}

interface HalfLayout {
  pos: number;
  shape: RecordShape;
  /** The UNIQ_KEY value's bytes in the batch. */
  idStart: number;
  idEnd: number;
  /** The half mark's position in the batch (-1: none to drop). */
  mark: number;
  halfSize: number;
  committedSize: number;
}

/**
 * Splits a send batch; undefined (the batch goes as it came) when it holds no half message. The
 * half and committed records are built by copying bytes (header and body, properties) and adding
 * the parts that change, not by decoding and encoding messages: the properties keep their bytes
 * as sent, those that are not UTF-8 too.
 */
export function divertHalfMessages(batch: SendBatch): DivertedHalves | undefined {
  const { body, records } = batch;
  const marks = halfMarks(batch);
  if (!marks) return undefined;
  const layouts: HalfLayout[] = [];
  const halves: DivertedHalves['halves'] = [];
  let normal: Buffer[] | undefined;
  const whereTo = Buffer.from(`${C.REAL_TOPIC}\u0001${batch.topic}\u0002${C.REAL_QID}\u0001${batch.queueId}\u0002`, 'latin1');
  const topicLength = batch.topic.length;
  let halfBytes = BATCH_HEADER + HALF_TOPIC_BYTES.length;
  let committedBytes = 0;
  for (let i = 0; i < records.length; i++) {
    const { pos, shape } = records[i]!;
    const ps = shape.propertiesStart;
    const props = marks[i] ? body.toString('latin1', ps, ps + shape.propertiesLength) : '';
    const tran = marks[i] ? propertyValue(props, TRAN_NAME) : undefined;
    if (!tran || props.slice(tran[0], tran[1]) !== 'true') {
      (normal ??= []).push(body.subarray(pos, pos + shape.size));
      continue;
    }
    const id = propertyValue(props, UNIQ_NAME) ?? [0, 0];
    const group = propertyValue(props, PGROUP_NAME);
    // RocketMQ refuses a delayed transactional message (here its commit would make it visible at once); the timer form holds only scheduled ones.
    if (batch.timerForm || isScheduled(props)) throw scheduledHalf();
    halves.push({ messageId: valueText(props, body, ps, id), producerGroup: group ? valueText(props, body, ps, group) : '' });
    // The transaction id property, {TRANSACTION_ID: messageId}, goes at the end of both forms.
    const idBytes = ID_NAME.length + (id[1] - id[0]) + 1;
    const halfProps = shape.propertiesLength + whereTo.length + idBytes;
    // What committedMessage gives for the stored record: the first half mark dropped, the transaction id appended.
    const markAt = props.indexOf(HALF_MARK);
    const committedProps = shape.propertiesLength - (markAt >= 0 ? HALF_MARK.length : 0) + idBytes;
    if (halfProps > MAX_PROPERTIES_LENGTH) throw new CirrusError('INVALID_MESSAGE', `encoded properties exceed ${MAX_PROPERTIES_LENGTH} bytes`);
    const halfSize = recordSize(shape.bodyLength, HALF_TOPIC_BYTES.length, halfProps);
    const committedSize = recordSize(shape.bodyLength, topicLength, committedProps);
    layouts.push({ pos, shape, idStart: ps + id[0], idEnd: ps + id[1], mark: markAt >= 0 ? ps + markAt : -1, halfSize, committedSize });
    halfBytes += halfSize;
    committedBytes += committedSize;
  }
  // Marks that were no whole property: no half message after all.
  if (layouts.length === 0) return undefined;
  // A buffer per form: the committed records, kept until their commits (RECENT_BYTES counts them), hold no half record's bytes.
  const out = Buffer.allocUnsafe(halfBytes);
  const kept = Buffer.allocUnsafe(committedBytes);
  out.writeUInt32BE(SEND_BATCH_MAGIC, 0);
  out.writeUInt16BE(SEND_BATCH_VERSION, 4);
  out.writeUInt16BE(HALF_TOPIC_BYTES.length, 6);
  out.writeInt32BE(0, 8);
  out.writeUInt32BE(layouts.length, 12);
  copyBytes(HALF_TOPIC_BYTES, 0, HALF_TOPIC_BYTES.length, out, BATCH_HEADER);
  const halfRecords: SendBatch['records'] = new Array(layouts.length);
  const committed: Buffer[] = new Array(layouts.length);
  let h = BATCH_HEADER + HALF_TOPIC_BYTES.length;
  let c = 0;
  for (let i = 0; i < layouts.length; i++) {
    const { pos, shape, idStart, idEnd, mark, halfSize, committedSize } = layouts[i]!;
    const ps = shape.propertiesStart;
    const pe = ps + shape.propertiesLength;
    // The half record: the properties as sent, then where it goes and its transaction id.
    const hStart = h;
    h = copyHeadAndBody(out, h, body, pos, shape.bodyLength, halfSize, 0);
    out[h++] = HALF_TOPIC_BYTES.length;
    h += copyBytes(HALF_TOPIC_BYTES, 0, HALF_TOPIC_BYTES.length, out, h);
    const halfPropsLength = hStart + halfSize - (h + 2);
    out.writeUInt16BE(halfPropsLength, h);
    h += 2;
    const halfPropsStart = h;
    h += copyBytes(body, ps, pe, out, h);
    h += copyBytes(whereTo, 0, whereTo.length, out, h);
    h = writeIdProperty(out, h, body, idStart, idEnd);
    halfRecords[i] = {
      pos: hStart,
      shape: {
        size: halfSize,
        bodyLength: shape.bodyLength,
        topicStart: hStart + Field.BODY + shape.bodyLength + 1,
        topicLength: HALF_TOPIC_BYTES.length,
        propertiesStart: halfPropsStart,
        propertiesLength: halfPropsLength,
      },
    };
    // The committed record: under the real topic, without the half mark.
    const cStart = c;
    c = copyHeadAndBody(kept, c, body, pos, shape.bodyLength, committedSize, batch.queueId);
    kept[c++] = topicLength;
    c += kept.write(batch.topic, c, topicLength, 'latin1');
    kept.writeUInt16BE(cStart + committedSize - (c + 2), c);
    c += 2;
    if (mark < 0) c += copyBytes(body, ps, pe, kept, c);
    else {
      c += copyBytes(body, ps, mark, kept, c);
      c += copyBytes(body, mark + HALF_MARK.length, pe, kept, c);
    }
    c = writeIdProperty(kept, c, body, idStart, idEnd);
    committed[i] = kept.subarray(cStart, c);
    if (h - hStart !== halfSize || c - cStart !== committedSize) throw new CirrusError('INTERNAL', 'a half message was laid out to another size than computed');
  }
  return {
    normal: normal ? sendBatchOfRecords(batch.topic, batch.queueId, normal) : undefined,
    half: { topic: HALF_TOPIC, queueId: 0, records: halfRecords, body: out },
    halves,
    committed,
  };
}

const SCHEDULE_NAMES = [C.TIMER_DELIVER_MS, C.TIMER_DELAY_SEC, C.DELAY].map((n) => `${n}\u0001`);

/** Whether latin1 properties hold a schedule (the names hold DELAY or DELIVER_MS: the search only runs on those that may). */
function isScheduled(props: string): boolean {
  if (!props.includes('DELAY') && !props.includes('DELIVER_MS')) return false;
  return SCHEDULE_NAMES.some((name) => propertyValue(props, name) !== undefined);
}

function scheduledHalf(): CirrusError {
  return new CirrusError('INVALID_MESSAGE', 'a transactional message cannot be scheduled (deliverAt, delaySeconds, delayTimeLevel)');
}

/** `__transactionId__` 0x01 {the UNIQ_KEY value's bytes} 0x02 at `at`; the position after it. */
function writeIdProperty(dst: Buffer, at: number, src: Buffer, idStart: number, idEnd: number): number {
  let p = at + copyBytes(ID_NAME, 0, ID_NAME.length, dst, at);
  p += copyBytes(src, idStart, idEnd, dst, p);
  dst[p] = PROPERTY_END;
  return p + 1;
}
