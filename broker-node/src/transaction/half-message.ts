/**
 * Half messages (RocketMQ's TransactionalMessageBridge): a record with TRAN_MSG is stored under
 * the system topic rmq_sys_trans_half_topic, queue 0, with its queue in REAL_TOPIC / REAL_QID
 * (half-message-divert.ts), so the body lives once in the CommitLog with the store's durability,
 * tiering and restore, and no consumer of its topic can see it. A commit appends it again to its
 * real queue (same body, id and born time, TRAN_MSG dropped); a rollback appends nothing there.
 * Both append an op record (op-message.ts).
 */
import {
  CirrusError,
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
import { preparedFrom, propertiesString } from '../timer/timer-record';

export const HALF_TOPIC = 'rmq_sys_trans_half_topic';

const C = MessageConst;

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
function committedMessage(r: HalfRecord): PreparedMessage {
  const props = { ...r.props };
  for (const name of [C.REAL_TOPIC, C.REAL_QID, C.TRANSACTION_PREPARED]) delete props[name];
  return { ...preparedFrom(r.buf, 0, r.shape, encodeProperties(props)), messageId: r.messageId };
}

/** committedMessage in CommitLog layout under the real topic, as sendBatchOfRecords and batchOfRecords take it. */
export function committedRecord(r: HalfRecord): Buffer {
  return recordsOf(encodeSendBatch(r.realTopic, r.realQueueId, [committedMessage(r)]))[0]!;
}
