/**
 * Half messages on the put path and at commit (RocketMQ's TransactionalMessageBridge): a record
 * with TRAN_MSG is stored under the system topic rmq_sys_trans_half_topic, queue 0, with its
 * queue in REAL_TOPIC / REAL_QID, so the body lives once in the CommitLog with the store's
 * durability, tiering and restore, and no consumer of its topic can see it. A commit appends it
 * again to its real queue (same body, id and born time, TRAN_MSG dropped); a rollback appends
 * nothing there. Both append an op record under rmq_sys_trans_op_half_topic (TRANS_OP = COMMIT
 * or ROLLBACK, __transactionId__ = the message id), which is what recovery replays to tell pending
 * from ended; one op record may end several transactions of one kind (body: their ids, comma
 * separated), so a batch of ends writes one record, not one per end.
 */
import {
  CirrusError,
  decodeProperties,
  decodeSendBatch,
  encodeProperties,
  encodeSendBatch,
  Field,
  MAX_PROPERTIES_LENGTH,
  MessageConst,
  type PreparedMessage,
  type RecordShape,
  readRecordShape,
  recordSize,
  SEND_BATCH_MAGIC,
  SEND_BATCH_VERSION,
  type SendBatch,
} from '@cirrusmq/client/protocol';
import { preparedFrom, propertiesString } from '../timer/timer-record';

export const HALF_TOPIC = 'rmq_sys_trans_half_topic';
export const OP_TOPIC = 'rmq_sys_trans_op_half_topic';

const C = MessageConst;
const HALF_MARK = `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;

export type OpKind = 'COMMIT' | 'ROLLBACK' | 'GROUP';

const HALF_BYTES = Buffer.from('TRAN_MSG\u0001true');

/**
 * Which records' properties may mark a half message: byte searches of the whole batch, each
 * going on past the record it found, so a plain send pays no property decode and a batch of
 * halves one pass. undefined: none.
 */
function halfMarks(batch: SendBatch): boolean[] | undefined {
  const { body, records } = batch;
  let marks: boolean[] | undefined;
  let at = body.indexOf(HALF_BYTES);
  let i = 0;
  while (at >= 0) {
    while (i < records.length && records[i]!.pos + records[i]!.shape.size <= at) i++;
    if (i === records.length) break;
    const { pos, shape } = records[i]!;
    if (at >= shape.propertiesStart && at + HALF_BYTES.length <= shape.propertiesStart + shape.propertiesLength) {
      if (!marks) marks = new Array<boolean>(records.length).fill(false);
      marks[i] = true;
      at = body.indexOf(HALF_BYTES, pos + shape.size);
    } else at = body.indexOf(HALF_BYTES, at + 1);
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

/** The records of an encoded send batch, each a view of its bytes. */
function recordsOf(encoded: Buffer): Buffer[] {
  return decodeSendBatch(encoded, Number.MAX_SAFE_INTEGER).records.map(({ pos, shape }) => encoded.subarray(pos, pos + shape.size));
}

/** A send batch of records already in CommitLog layout under `topic` (committedRecord's, divertHalfMessages' committed): one copy each. */
export function sendBatchOfRecords(topic: string, queueId: number, records: readonly Buffer[]): SendBatch {
  const head = encodeSendBatch(topic, queueId, []);
  const body = Buffer.concat([head, ...records]);
  // The record count sits after magic, version, topic length and queue id (send-batch.ts).
  body.writeUInt32BE(records.length, 12);
  return decodeSendBatch(body, records.length);
}

/**
 * Records in CommitLog layout, of any topics, as one batch for the store's putMessagesOfQueues
 * (which says whose each is): their bytes back to back, one copy each. No header: the store
 * reads only the records.
 */
export function batchOfRecords(records: readonly Buffer[]): SendBatch {
  const body = Buffer.concat(records as Buffer[]);
  const out: SendBatch['records'] = new Array(records.length);
  let pos = 0;
  for (let i = 0; i < records.length; i++) {
    const shape = readRecordShape(body, pos, body.length);
    if (!shape) throw new CirrusError('INTERNAL', `record ${i} of a commit flush is malformed`);
    out[i] = { pos, shape };
    pos += shape.size;
  }
  return { topic: '', queueId: -1, records: out, body };
}

/** Where a half message is stored and whose it is: what a pending transaction keeps of it. */
export interface HalfMessageRef {
  messageId: string;
  realTopic: string;
  realQueueId: number;
  producerGroup: string;
  offsetPy: number;
  size: number;
}

/** A stored half message, as commit and the checks need it. */
export interface HalfRecord extends HalfMessageRef {
  storeTimestamp: number;
  props: Record<string, string>;
  buf: Buffer;
  shape: RecordShape;
}

/** Reads a half record at `pos` of `buf` (as stored: with its CommitLog offset); undefined for anything else. */
export function readHalfRecord(buf: Buffer, pos = 0): HalfRecord | undefined {
  const shape = readRecordShape(buf, pos, buf.length);
  if (!shape) return undefined;
  const props = decodeProperties(propertiesString(buf, shape));
  const realTopic = props[C.REAL_TOPIC];
  const messageId = props[C.UNIQ_KEY];
  if (realTopic === undefined || messageId === undefined || props[C.TRANSACTION_PREPARED] !== 'true') return undefined;
  return {
    messageId,
    realTopic,
    realQueueId: Number(props[C.REAL_QID] ?? 0),
    producerGroup: props[C.PRODUCER_GROUP] ?? '',
    offsetPy: Number(buf.readBigInt64BE(pos + Field.PHYSICALOFFSET)),
    size: shape.size,
    storeTimestamp: Number(buf.readBigInt64BE(pos + Field.STORETIMESTAMP)),
    props,
    buf: buf.subarray(pos, pos + shape.size),
    shape: readRecordShape(buf.subarray(pos, pos + shape.size), 0, shape.size)!,
  };
}

/** The half record `ref` names, read back from the CommitLog (undefined: gone, or another record there now). */
export async function readHalfAt(
  readCommitLog: (offset: number, size: number) => Promise<Buffer | undefined>,
  ref: HalfMessageRef,
): Promise<HalfRecord | undefined> {
  const buf = await readCommitLog(ref.offsetPy, ref.size);
  const r = buf ? readHalfRecord(buf) : undefined;
  return r?.messageId === ref.messageId ? r : undefined;
}

/** The record a commit appends to its real queue: the half message's id, body and born time, no longer a half message. */
export function committedMessage(r: HalfRecord): PreparedMessage {
  const props = { ...r.props };
  for (const name of [C.REAL_TOPIC, C.REAL_QID, C.TRANSACTION_PREPARED]) delete props[name];
  return { ...preparedFrom(r.buf, 0, r.shape, encodeProperties(props)), messageId: r.messageId };
}

/** committedMessage in CommitLog layout under the real topic, as sendBatchOfRecords and batchOfRecords take it. */
export function committedRecord(r: HalfRecord): Buffer {
  return recordsOf(encodeSendBatch(r.realTopic, r.realQueueId, [committedMessage(r)]))[0]!;
}

/**
 * The op records of ends of one kind: one for them all (the first id as its key, all of them in
 * the body when more than one), and one of its own for an id holding the separator.
 */
export function endOpMessages(kind: 'COMMIT' | 'ROLLBACK', messageIds: readonly string[], now: number): PreparedMessage[] {
  const joinable = messageIds.filter((id) => !id.includes(','));
  const out = messageIds.filter((id) => id.includes(',')).map((id) => opMessage(kind, id, '', now));
  if (joinable.length > 0) out.push(opMessage(kind, joinable[0]!, joinable.length > 1 ? joinable.join(',') : '', now));
  return out;
}

/** An op record: the end of transactions (endOpMessage), or a producer group's check URL (body: JSON). */
export function opMessage(kind: OpKind, key: string, body: string, now: number): PreparedMessage {
  const properties = encodeProperties({ [C.TRANSACTION_OP]: kind, [C.TRANSACTION_ID]: key });
  return {
    messageId: '',
    body: Buffer.from(body, 'utf8'),
    sysFlag: 0,
    bornTimestamp: now,
    properties,
    propertiesLength: Buffer.byteLength(properties, 'utf8'),
  };
}

export interface OpRecord {
  kind: OpKind;
  key: string;
  /** The transactions a COMMIT or ROLLBACK record ends (its key alone, or the ids in its body). */
  ids: string[];
  body: Buffer;
  offsetPy: number;
  storeTimestamp: number;
}

export function readOpRecord(buf: Buffer, pos = 0): OpRecord | undefined {
  const shape = readRecordShape(buf, pos, buf.length);
  if (!shape) return undefined;
  const props = decodeProperties(propertiesString(buf, shape));
  const kind = props[C.TRANSACTION_OP];
  const key = props[C.TRANSACTION_ID];
  if ((kind !== 'COMMIT' && kind !== 'ROLLBACK' && kind !== 'GROUP') || key === undefined) return undefined;
  const body = buf.subarray(pos + Field.BODY, pos + Field.BODY + shape.bodyLength);
  return {
    kind,
    key,
    ids: kind === 'GROUP' ? [] : body.length > 0 ? body.toString('latin1').split(',') : [key],
    body,
    offsetPy: Number(buf.readBigInt64BE(pos + Field.PHYSICALOFFSET)),
    storeTimestamp: Number(buf.readBigInt64BE(pos + Field.STORETIMESTAMP)),
  };
}
