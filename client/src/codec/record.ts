/**
 * The message record: one layout from the producer's send request to the CommitLog file
 * and back to the reader, so the broker copies records instead of re-encoding them.
 * Big-endian, as RocketMQ's CommitLog.
 *
 *  offset size field
 *   0     4   TOTALSIZE         whole record, header included
 *   4     4   MAGICCODE         MESSAGE_MAGIC, or BLANK_MAGIC for a segment's filler
 *   8     4   CRC               zlib.crc32 of bytes [12, TOTALSIZE): header and body, so a torn tail fails it
 *  12     4   QUEUEID
 *  16     4   FLAG
 *  20     8   QUEUEOFFSET       set by the broker
 *  28     8   PHYSICALOFFSET    set by the broker: the record's CommitLog offset
 *  36     4   SYSFLAG           SysFlag.COMPRESSED when the body is deflated
 *  40     8   BORNTIMESTAMP     producer's clock, ms
 *  48     8   STORETIMESTAMP    set by the broker, ms
 *  56     4   RECONSUMETIMES
 *  60     4   BODYLENGTH        then BODY
 *   .     1   TOPICLENGTH       then TOPIC (ASCII)
 *   .     2   PROPERTIESLENGTH  then PROPERTIES (UTF-8, see properties.ts)
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { CirrusError } from '../errors.js';
import { KEY_SEPARATOR, MessageConst, SysFlag, type MessageExt } from '../message.js';
import { readInt64, setInt64, viewOf } from './int64.js';
import { decodeProperties } from './properties.js';

export const MESSAGE_MAGIC = 0xdaa320a7 | 0;
export const BLANK_MAGIC = 0xcbd43194 | 0;

export const Field = {
  TOTALSIZE: 0,
  MAGICCODE: 4,
  CRC: 8,
  QUEUEID: 12,
  FLAG: 16,
  QUEUEOFFSET: 20,
  PHYSICALOFFSET: 28,
  SYSFLAG: 36,
  BORNTIMESTAMP: 40,
  STORETIMESTAMP: 48,
  RECONSUMETIMES: 56,
  BODYLENGTH: 60,
  BODY: 64,
} as const;

/** The smallest record: a BLANK filler needs only TOTALSIZE and MAGICCODE. */
export const MIN_BLANK_SIZE = 8;
export const MAX_PROPERTIES_LENGTH = 0xffff;

export function recordSize(bodyLength: number, topicLength: number, propertiesLength: number): number {
  return Field.BODY + bodyLength + 1 + topicLength + 2 + propertiesLength;
}

export interface RecordInput {
  queueId: number;
  sysFlag: number;
  bornTimestamp: number;
  reconsumeTimes: number;
  body: Uint8Array;
  /** ASCII: validated topic names are. */
  topic: string;
  properties: string;
}

/** Writes a record whose broker fields (offsets, store time, CRC) are still zero. Returns its size. */
export function encodeRecord(buf: Buffer, pos: number, r: RecordInput): number {
  const propertiesLength = Buffer.byteLength(r.properties);
  return writeRecord(buf, pos, r.queueId, r.sysFlag, r.bornTimestamp, r.reconsumeTimes, r.body, r.body.length, r.topic, r.properties, propertiesLength);
}

/**
 * encodeRecord with the lengths already known: the send path's encoder. A string body is
 * written as UTF-8 straight into `buf` (`bodyLength` must be its byte length), so text from
 * a JSON request needs no Buffer of its own. Returns the record's size.
 */
export function writeRecord(
  buf: Buffer,
  pos: number,
  queueId: number,
  sysFlag: number,
  bornTimestamp: number,
  reconsumeTimes: number,
  body: Uint8Array | string,
  bodyLength: number,
  topic: string,
  properties: string,
  propertiesLength: number,
  /** A DataView over `buf` (viewOf): a caller writing many records into one buffer makes it once. */
  view: DataView = viewOf(buf),
): number {
  if (propertiesLength > MAX_PROPERTIES_LENGTH) {
    throw new CirrusError('INVALID_MESSAGE', `encoded properties exceed ${MAX_PROPERTIES_LENGTH} bytes`);
  }
  const topicLength = topic.length;
  const size = recordSize(bodyLength, topicLength, propertiesLength);
  // The head through a DataView: the Buffer write methods check bounds and types per field.
  view.setInt32(pos, size);
  view.setInt32(pos + Field.MAGICCODE, MESSAGE_MAGIC);
  view.setInt32(pos + Field.CRC, 0);
  view.setInt32(pos + Field.QUEUEID, queueId);
  view.setInt32(pos + Field.FLAG, 0);
  view.setInt32(pos + Field.QUEUEOFFSET, 0);
  view.setInt32(pos + Field.QUEUEOFFSET + 4, 0);
  view.setInt32(pos + Field.PHYSICALOFFSET, 0);
  view.setInt32(pos + Field.PHYSICALOFFSET + 4, 0);
  view.setInt32(pos + Field.SYSFLAG, sysFlag);
  setInt64(view, pos + Field.BORNTIMESTAMP, bornTimestamp);
  view.setInt32(pos + Field.STORETIMESTAMP, 0);
  view.setInt32(pos + Field.STORETIMESTAMP + 4, 0);
  view.setInt32(pos + Field.RECONSUMETIMES, reconsumeTimes);
  view.setInt32(pos + Field.BODYLENGTH, bodyLength);
  let p = pos + Field.BODY;
  if (typeof body === 'string') {
    if (buf.write(body, p, bodyLength, 'utf8') !== bodyLength) throw new CirrusError('INTERNAL', 'a text body is not as long as its stated byte length');
  } else buf.set(body, p);
  p += bodyLength;
  buf[p] = topicLength;
  buf.write(topic, p + 1, topicLength, 'latin1');
  p += 1 + topicLength;
  view.setUint16(p, propertiesLength);
  if (buf.write(properties, p + 2, propertiesLength, 'utf8') !== propertiesLength) {
    throw new CirrusError('INTERNAL', 'properties are not as long as their stated byte length');
  }
  return size;
}

/** Where the variable-length parts of a record sit. */
export interface RecordShape {
  size: number;
  bodyLength: number;
  topicStart: number;
  topicLength: number;
  propertiesStart: number;
  propertiesLength: number;
}

/**
 * Checks that the lengths inside the record at `pos` agree with each other and fit in
 * `[pos, end)`; never reads outside. Returns undefined for anything that is not a
 * well-formed message record, so callers decide between "bad request" and "torn tail".
 */
export function readRecordShape(buf: Buffer, pos: number, end: number): RecordShape | undefined {
  if (end - pos < Field.BODY + 3) return undefined;
  const size = buf.readInt32BE(pos);
  if (size < Field.BODY + 3 || size > end - pos) return undefined;
  if (buf.readInt32BE(pos + Field.MAGICCODE) !== MESSAGE_MAGIC) return undefined;
  const bodyLength = buf.readInt32BE(pos + Field.BODYLENGTH);
  if (bodyLength < 0 || Field.BODY + bodyLength + 3 > size) return undefined;
  const topicAt = pos + Field.BODY + bodyLength;
  const topicLength = buf.readUInt8(topicAt);
  if (Field.BODY + bodyLength + 1 + topicLength + 2 > size) return undefined;
  const propsAt = topicAt + 1 + topicLength;
  const propertiesLength = buf.readUInt16BE(propsAt);
  if (recordSize(bodyLength, topicLength, propertiesLength) !== size) return undefined;
  return { size, bodyLength, topicStart: topicAt + 1, topicLength, propertiesStart: propsAt + 2, propertiesLength };
}

// zlib (Chromium's copy, in Node) takes its SIMD CRC path only once cpu_check_features() ran,
// which zlib calls when a stream initializes; Node's crc32() binding never does. One tiny
// deflate at load turns it on: a 1 KB record's CRC goes from ~0.57 to ~0.35 us.
deflateSync(Buffer.alloc(1));

/** CRC32 of bytes [QUEUEID, size) of the record at `pos` (a Uint8Array view: cheaper than Buffer.subarray per call). */
export function computeRecordCrc(buf: Buffer, pos: number, size: number): number {
  return crc32(new Uint8Array(buf.buffer, buf.byteOffset + pos + Field.QUEUEID, size - Field.QUEUEID));
}

export function hasValidCrc(buf: Buffer, pos: number, size: number): boolean {
  return buf.readUInt32BE(pos + Field.CRC) === computeRecordCrc(buf, pos, size);
}

/**
 * Fills in the broker's fields and seals the record with its CRC, through `view` (a DataView
 * over `buf`, which the broker keeps for its reused write buffer).
 */
export function stampRecord(
  buf: Buffer,
  pos: number,
  size: number,
  queueId: number,
  queueOffset: number,
  physicalOffset: number,
  storeTimestamp: number,
  view: DataView = viewOf(buf),
): void {
  view.setInt32(pos + Field.QUEUEID, queueId);
  setInt64(view, pos + Field.QUEUEOFFSET, queueOffset);
  setInt64(view, pos + Field.PHYSICALOFFSET, physicalOffset);
  setInt64(view, pos + Field.STORETIMESTAMP, storeTimestamp);
  view.setUint32(pos + Field.CRC, computeRecordCrc(buf, pos, size));
}

export function writeBlankRecord(buf: Buffer, pos: number, size: number): void {
  buf.writeInt32BE(size, pos);
  buf.writeInt32BE(BLANK_MAGIC, pos + Field.MAGICCODE);
}

export function readQueueOffset(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + Field.QUEUEOFFSET);
}

/** Decodes a stored record; the body comes back decompressed. */
export function decodeRecord(buf: Buffer, pos: number, shape: RecordShape): MessageExt {
  const sysFlag = buf.readInt32BE(pos + Field.SYSFLAG);
  let body = Buffer.from(buf.subarray(pos + Field.BODY, pos + Field.BODY + shape.bodyLength));
  if (sysFlag & SysFlag.COMPRESSED) body = inflateSync(body);
  const properties = decodeProperties(buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength));
  const keys = properties[MessageConst.KEYS];
  return {
    topic: buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength),
    queueId: buf.readInt32BE(pos + Field.QUEUEID),
    queueOffset: readInt64(buf, pos + Field.QUEUEOFFSET),
    commitLogOffset: readInt64(buf, pos + Field.PHYSICALOFFSET),
    sysFlag,
    bornTimestamp: readInt64(buf, pos + Field.BORNTIMESTAMP),
    storeTimestamp: readInt64(buf, pos + Field.STORETIMESTAMP),
    reconsumeTimes: buf.readInt32BE(pos + Field.RECONSUMETIMES),
    body,
    properties,
    messageId: properties[MessageConst.UNIQ_KEY] ?? '',
    tags: properties[MessageConst.TAGS],
    keys: keys ? keys.split(KEY_SEPARATOR) : [],
  };
}

/** Decodes a run of records, as a broker's read answer carries them. */
export function decodeRecords(buf: Buffer): MessageExt[] {
  const out: MessageExt[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const shape = readRecordShape(buf, pos, buf.length);
    if (!shape || !hasValidCrc(buf, pos, shape.size)) {
      throw new CirrusError('INTERNAL', `corrupt record at byte ${pos} of a read answer`);
    }
    out.push(decodeRecord(buf, pos, shape));
    pos += shape.size;
  }
  return out;
}
