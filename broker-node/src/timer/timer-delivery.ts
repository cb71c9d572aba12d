/**
 * The records a firing tick appends to one real queue, built by byte surgery on the stored
 * timer records (as transaction/half-message-divert.ts builds committed records): header and body
 * copied, the real topic written, the properties copied but for the schedule's own. No
 * property object, string or PreparedMessage per timer: a burst of 100,000 timers was mostly
 * those and their GC. The bytes are those deliveredMessage + encodeSendBatch write (timer-delivery.test.ts
 * compares the two on many shapes); a record whose properties that path would reorder or
 * rewrite (a repeated or integer-like name, non-ASCII, no trailing separator) goes through it.
 */
import {
  encodeSendBatch,
  Field,
  MAX_PROPERTIES_LENGTH,
  MESSAGE_MAGIC,
  MessageConst,
  type RecordShape,
  readRecordShape,
  recordSize,
  type SendBatch,
} from '@cirrusmq/client/protocol';
import { deliveredMessage, type TimerRecord } from './timer-record';

const C = MessageConst;
const NAME_VALUE = 0x01;
const PROPERTY_END = 0x02;
/** The send batch header before its topic (codec/send-batch.ts). */
const BATCH_HEADER = 16;
const DROPPED = [C.REAL_TOPIC, C.REAL_QID, C.TIMER_DELIVER_MS, C.TIMER_DELAY_SEC, C.DELAY, C.TIMER_ROLL_TIMES].map((n) => Buffer.from(n, 'latin1'));
/** Name starts of the record being written (reused: a record has at most 0xffff / 2 properties). */
const nameStarts = new Int32Array(MAX_PROPERTIES_LENGTH);
const nameEnds = new Int32Array(MAX_PROPERTIES_LENGTH);

/**
 * Builds one real queue's batch: `records[i]` is a timer record (its whole bytes) due now. The
 * batch's topic and queue are `topic` and `queueId`, every record's REAL_TOPIC / REAL_QID.
 */
export class DeliveryBatch {
  private buf: Buffer;
  private at: number;
  private readonly shapes: SendBatch['records'] = [];
  private readonly topicBytes: Buffer;

  constructor(
    readonly topic: string,
    readonly queueId: number,
    capacity: number,
  ) {
    this.topicBytes = Buffer.from(topic, 'latin1');
    this.at = BATCH_HEADER + topic.length;
    this.buf = Buffer.allocUnsafe(Math.max(capacity, this.at + 256));
  }

  get count(): number {
    return this.shapes.length;
  }

  get bytes(): number {
    return this.at;
  }

  /** Appends the delivered record of `r` (a timer record of this batch's real queue). */
  add(r: TimerRecord): void {
    const { buf: src, shape } = r;
    // The surgery never grows a record by more than the topic change and one separator.
    this.reserve(shape.size + this.topicBytes.length + 1);
    let size = writeDelivered(this.buf, this.at, src, shape, this.topicBytes, this.queueId);
    if (size < 0) {
      const one = encodeSendBatch(this.topic, this.queueId, [deliveredMessage(r)]);
      const from = BATCH_HEADER + this.topic.length;
      size = one.length - from;
      this.reserve(size);
      one.copy(this.buf, this.at, from);
    }
    this.shapes.push({ pos: this.at, shape: readRecordShape(this.buf, this.at, this.at + size)! });
    this.at += size;
  }

  /** The send batch of the records added (a view of this builder's buffer: add no more after). */
  batch(): SendBatch {
    const body = this.buf.subarray(0, this.at);
    body.writeUInt32BE(0x434d5153, 0);
    body.writeUInt16BE(1, 4);
    body.writeUInt16BE(this.topicBytes.length, 6);
    body.writeInt32BE(this.queueId, 8);
    body.writeUInt32BE(this.shapes.length, 12);
    this.topicBytes.copy(body, BATCH_HEADER);
    return { topic: this.topic, queueId: this.queueId, records: this.shapes, body };
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/**
 * Writes at `at` of `dst` the delivered record of the timer record `src` (shape `shape`): its
 * size, or -1 (nothing meaningful written) when its properties need the general path.
 * `dst` must have room for shape.size + topic.length + 1 bytes.
 */
export function writeDelivered(dst: Buffer, at: number, src: Buffer, shape: RecordShape, topic: Buffer, queueId: number): number {
  const bodyEnd = Field.BODY + shape.bodyLength;
  const from = shape.topicStart - 1 - bodyEnd;
  src.copy(dst, at, from, from + bodyEnd);
  let p = at + bodyEnd;
  dst[p++] = topic.length;
  p += topic.copy(dst, p);
  const propsLengthAt = p;
  p += 2;
  const propsAt = p;
  // decodeProperties' reading: name up to the next 0x01, value up to the next 0x02 (or the end).
  // Kept properties are copied in runs: their bytes stay as they are, only dropped ones break a run.
  const end = shape.propertiesStart + shape.propertiesLength;
  let n = 0;
  let run = shape.propertiesStart;
  let start = shape.propertiesStart;
  while (start < end) {
    let sep = start;
    // The general path keeps integer-like names first and a repeated name once, at its first place, with its last value.
    let digits = true;
    for (; sep < end; sep++) {
      const b = src[sep]!;
      if (b === NAME_VALUE) break;
      if (b > 0x7f) return -1;
      if (b < 0x30 || b > 0x39) digits = false;
    }
    if (sep === end) break;
    if (digits && sep > start) return -1;
    let stop = sep + 1;
    for (; stop < end; stop++) {
      const b = src[stop]!;
      if (b === PROPERTY_END) break;
      if (b > 0x7f) return -1;
    }
    for (let k = 0; k < n; k++) if (sameBytes(src, nameStarts[k]!, nameEnds[k]!, start, sep)) return -1;
    nameStarts[n] = start;
    nameEnds[n++] = sep;
    if (isDropped(src, start, sep)) {
      p += copyBytes(src, run, start, dst, p);
      run = stop + 1;
    }
    start = stop + 1;
  }
  // Up to the last property (what follows without a separator is no property); one without its 0x02 gets it.
  if (run < start) {
    p += copyBytes(src, run, Math.min(start, end), dst, p);
    if (start > end) dst[p++] = PROPERTY_END;
  }
  const propertiesLength = p - propsAt;
  if (propertiesLength > MAX_PROPERTIES_LENGTH) return -1;
  dst.writeUInt16BE(propertiesLength, propsLengthAt);
  const size = recordSize(shape.bodyLength, topic.length, propertiesLength);
  // As writeRecord writes a header: queue id, sysFlag, born time and body length kept, the broker's fields zero.
  dst.writeInt32BE(size, at);
  dst.writeInt32BE(MESSAGE_MAGIC, at + Field.MAGICCODE);
  dst.writeInt32BE(0, at + Field.CRC);
  dst.writeInt32BE(queueId, at + Field.QUEUEID);
  for (let f = Field.FLAG; f < Field.SYSFLAG; f += 4) dst.writeInt32BE(0, at + f);
  for (let f = Field.STORETIMESTAMP; f < Field.BODYLENGTH; f += 4) dst.writeInt32BE(0, at + f);
  return size;
}

/** Copies this short or shorter go byte by byte: cheaper than a call into Buffer.copy. */
const SHORT_COPY = 64;

function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n > SHORT_COPY) return src.copy(dst, at, start, end);
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
  return n;
}

function isDropped(buf: Buffer, start: number, end: number): boolean {
  const length = end - start;
  for (const name of DROPPED) if (name.length === length && sameBytes(name, 0, length, start, end, buf)) return true;
  return false;
}

function sameBytes(a: Buffer, aStart: number, aEnd: number, bStart: number, bEnd: number, b: Buffer = a): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
