/**
 * The send request a producer makes to a broker: one compact binary body per batch, all of
 * it for one queue, the records already in CommitLog layout (record.ts) so the broker only
 * stamps offsets and copies.
 *
 *  offset size field
 *   0     4   magic   SEND_BATCH_MAGIC ("CMQS")
 *   4     2   version 1
 *   6     2   topic length
 *   8     4   queueId
 *  12     4   record count
 *  16     .   topic (ASCII), then the records back to back
 */
import { CirrusError } from '../errors.js';
import { viewOf } from './int64.js';
import { readRecordShape, recordSize, writeRecord, type RecordShape } from './record.js';

export const SEND_BATCH_MAGIC = 0x434d5153;
export const SEND_BATCH_VERSION = 1;
const HEADER = 16;

/** A message ready for the wire: id assigned, body compressed if worth it, properties encoded. */
export interface PreparedMessage {
  messageId: string;
  /** The bytes, or text that goes as its UTF-8 bytes (written straight into the batch). */
  body: Uint8Array | string;
  /** The body's length in bytes; computed when absent (set it for a text body). */
  bodyLength?: number;
  sysFlag: number;
  bornTimestamp: number;
  properties: string;
  propertiesLength: number;
}

/** A prepared body's length in bytes. */
export function preparedBodyLength(m: PreparedMessage): number {
  const body = m.body;
  return typeof body === 'string' ? (m.bodyLength ?? Buffer.byteLength(body, 'utf8')) : body.length;
}

export function encodeSendBatch(topic: string, queueId: number, messages: readonly PreparedMessage[]): Buffer {
  const topicLength = topic.length;
  const n = messages.length;
  let size = HEADER + topicLength;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    size += recordSize(preparedBodyLength(m), topicLength, m.propertiesLength);
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(SEND_BATCH_MAGIC, 0);
  buf.writeUInt16BE(SEND_BATCH_VERSION, 4);
  buf.writeUInt16BE(topicLength, 6);
  buf.writeInt32BE(queueId, 8);
  buf.writeUInt32BE(n, 12);
  buf.write(topic, HEADER, topicLength, 'latin1');
  let pos = HEADER + topicLength;
  const view = viewOf(buf);
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    pos += writeRecord(buf, pos, queueId, m.sysFlag, m.bornTimestamp, 0, m.body, preparedBodyLength(m), topic, m.properties, m.propertiesLength, view);
  }
  if (pos !== size) throw new CirrusError('INTERNAL', 'send batch encoded to another size than computed');
  return buf;
}

/** Points an encoded batch at another queue, for a retry; the broker stamps each record's queueId. */
export function setSendBatchQueueId(buf: Buffer, queueId: number): void {
  buf.writeInt32BE(queueId, 8);
}

/** RocketMQ 5's system topic of scheduled messages: a send batch's records may be under it (timer-batch.ts). */
export const TIMER_TOPIC = 'rmq_sys_wheel_timer';
const TIMER_TOPIC_BYTES = Buffer.from(TIMER_TOPIC, 'latin1');

export interface SendBatch {
  topic: string;
  queueId: number;
  /** The timer form (timer-batch.ts): every record is under TIMER_TOPIC, scheduled for this topic and queue. */
  timerForm?: boolean;
  /** Positions of the records within the request body, checked for shape. */
  records: { pos: number; shape: RecordShape }[];
  body: Buffer;
}

/** Parses and checks a send request; a malformed one is a BAD_REQUEST, never a crash. */
export function decodeSendBatch(body: Buffer, maxRecords: number): SendBatch {
  if (body.length < HEADER) throw new CirrusError('BAD_REQUEST', 'send batch shorter than its header');
  if (body.readUInt32BE(0) !== SEND_BATCH_MAGIC) throw new CirrusError('BAD_REQUEST', 'not a send batch (bad magic)');
  const version = body.readUInt16BE(4);
  if (version !== SEND_BATCH_VERSION) throw new CirrusError('BAD_REQUEST', `unsupported send batch version ${version}`);
  const topicLength = body.readUInt16BE(6);
  const queueId = body.readInt32BE(8);
  const count = body.readUInt32BE(12);
  if (count === 0) throw new CirrusError('EMPTY_BATCH', 'send batch has no records');
  if (count > maxRecords) throw new CirrusError('TOO_MANY_MESSAGES', `send batch has more than ${maxRecords} records`);
  if (HEADER + topicLength > body.length) throw new CirrusError('BAD_REQUEST', 'topic runs past the body');
  const topic = body.toString('latin1', HEADER, HEADER + topicLength);
  const records: SendBatch['records'] = [];
  let pos = HEADER + topicLength;
  // The first record decides the form: all records under the batch's topic, or all under TIMER_TOPIC.
  let timerForm = false;
  for (let i = 0; i < count; i++) {
    const shape = readRecordShape(body, pos, body.length);
    if (!shape) throw new CirrusError('BAD_REQUEST', `record ${i} of the send batch is malformed`);
    if (shape.topicLength !== topicLength || body.compare(body, HEADER, HEADER + topicLength, shape.topicStart, shape.topicStart + topicLength) !== 0) {
      const underTimer =
        shape.topicLength === TIMER_TOPIC_BYTES.length && TIMER_TOPIC_BYTES.compare(body, shape.topicStart, shape.topicStart + shape.topicLength) === 0;
      if (!underTimer || (i > 0 && !timerForm)) throw new CirrusError('BAD_REQUEST', `record ${i} names another topic than the batch`);
      timerForm = true;
    } else if (timerForm) throw new CirrusError('BAD_REQUEST', `record ${i} names another topic than the batch's other records`);
    records.push({ pos, shape });
    pos += shape.size;
  }
  if (pos !== body.length) throw new CirrusError('BAD_REQUEST', 'bytes left over after the last record');
  return timerForm ? { topic, queueId, records, body, timerForm } : { topic, queueId, records, body };
}
