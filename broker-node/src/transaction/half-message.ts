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
  decodeProperties,
  decodeSendBatch,
  encodeProperties,
  encodeSendBatch,
  Field,
  MessageConst,
  type PreparedMessage,
  type RecordShape,
  readRecordShape,
  type SendBatch,
} from '@cirrusmq/client/protocol';
import { batchOf, preparedFrom, propertiesString } from '../timer/timer-record';

export const HALF_TOPIC = 'rmq_sys_trans_half_topic';
export const OP_TOPIC = 'rmq_sys_trans_op_half_topic';

const C = MessageConst;
const HALF_MARK = `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;

export type OpKind = 'COMMIT' | 'ROLLBACK' | 'GROUP';

const HALF_BYTES = Buffer.from('TRAN_MSG\u0001true');
const HALF_MARK_BYTES = Buffer.byteLength(HALF_MARK, 'utf8');

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

/** preparedFrom with the properties' byte length given (the caller knows it from the parts). */
function preparedWith(buf: Buffer, pos: number, shape: RecordShape, properties: string, propertiesLength: number): PreparedMessage {
  return {
    messageId: '',
    body: buf.subarray(pos + Field.BODY, pos + Field.BODY + shape.bodyLength),
    sysFlag: buf.readInt32BE(pos + Field.SYSFLAG),
    bornTimestamp: Number(buf.readBigInt64BE(pos + Field.BORNTIMESTAMP)),
    properties,
    propertiesLength,
  };
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

/** Splits a send batch; undefined (the batch goes as it came) when it holds no half message. */
export function divertHalfMessages(batch: SendBatch): DivertedHalves | undefined {
  const { body, records } = batch;
  const marks = halfMarks(batch);
  if (!marks) return undefined;
  const half: PreparedMessage[] = [];
  const halves: DivertedHalves['halves'] = [];
  const committed: PreparedMessage[] = [];
  const normal: PreparedMessage[] = [];
  const whereTo = `${C.REAL_TOPIC}\u0001${batch.topic}\u0002${C.REAL_QID}\u0001${batch.queueId}\u0002`;
  const whereToBytes = Buffer.byteLength(whereTo, 'utf8');
  for (let i = 0; i < records.length; i++) {
    const { pos, shape } = records[i]!;
    const props = propertiesString(body, shape);
    // The stored length, unless bytes that are not UTF-8 were decoded to U+FFFD (then they re-encode to another length).
    const propsBytes = props.includes('\uFFFD') ? Buffer.byteLength(props, 'utf8') : shape.propertiesLength;
    const p = marks[i] ? decodeProperties(props) : undefined;
    if (p === undefined || p[C.TRANSACTION_PREPARED] !== 'true') {
      normal.push(preparedWith(body, pos, shape, props, propsBytes));
      continue;
    }
    const messageId = p[C.UNIQ_KEY] ?? '';
    // encodeProperties of {TRANSACTION_ID: messageId}, written out: one string per record less.
    const idProperty = `${C.TRANSACTION_ID}\u0001${messageId}\u0002`;
    const idBytes = Buffer.byteLength(idProperty, 'utf8');
    half.push(preparedWith(body, pos, shape, props + whereTo + idProperty, propsBytes + whereToBytes + idBytes));
    halves.push({ messageId, producerGroup: p[C.PRODUCER_GROUP] ?? '' });
    // What committedMessage gives for the stored record: TRAN_MSG out, the transaction id appended.
    const kept = props.replace(HALF_MARK, '');
    const keptBytes = propsBytes - (kept.length === props.length ? 0 : HALF_MARK_BYTES);
    committed.push(preparedWith(body, pos, shape, kept + idProperty, keptBytes + idBytes));
  }
  return {
    normal: normal.length > 0 ? batchOf(batch.topic, batch.queueId, normal) : undefined,
    half: batchOf(HALF_TOPIC, 0, half),
    halves,
    committed: recordsOf(encodeSendBatch(batch.topic, batch.queueId, committed)),
  };
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

/** A stored half message, as commit and the checks need it. */
export interface HalfRecord {
  messageId: string;
  realTopic: string;
  realQueueId: number;
  producerGroup: string;
  offsetPy: number;
  size: number;
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

/** The record a commit appends to its real queue: the half message's id, body and born time, no longer a half message. */
export function committedMessage(r: HalfRecord): PreparedMessage {
  const props = { ...r.props };
  for (const name of [C.REAL_TOPIC, C.REAL_QID, C.TRANSACTION_PREPARED]) delete props[name];
  return { ...preparedFrom(r.buf, 0, r.shape, encodeProperties(props)), messageId: r.messageId };
}

/** committedMessage in CommitLog layout under the real topic, as sendBatchOfRecords takes it. */
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
