/**
 * The broker's side of a record's CRC (the layout is client/src/codec/record.ts: CRC32 of
 * bytes [QUEUEID, TOTALSIZE), header and body): the same value as computeRecordCrc, cheaper.
 *
 * - zlib (Chromium's copy, in Node) takes its SIMD CRC path only once cpu_check_features()
 *   ran, which zlib calls when a stream initializes; Node's crc32() binding never does. One
 *   tiny deflate at load turns it on: 1 KB records go from ~0.57 to ~0.35 µs here.
 * - A Uint8Array view instead of Buffer.subarray: ~0.05 µs less per call.
 */
import zlib from 'node:zlib';
import { Field } from '../../../client/src/codec/record';

zlib.deflateSync(Buffer.alloc(1));

const TWO_32 = 0x1_0000_0000;

export function recordCrc(buf: Buffer, pos: number, size: number): number {
  return zlib.crc32(new Uint8Array(buf.buffer, buf.byteOffset + pos + Field.QUEUEID, size - Field.QUEUEID));
}

export function hasValidRecordCrc(buf: Buffer, pos: number, size: number): boolean {
  return buf.readUInt32BE(pos + Field.CRC) === recordCrc(buf, pos, size);
}

/** stampRecord (record.ts) through a DataView over the write buffer: the broker's fields, then the CRC. */
export function stampRecordView(
  view: DataView,
  buf: Buffer,
  pos: number,
  size: number,
  queueId: number,
  queueOffset: number,
  physicalOffset: number,
  storeTimestamp: number,
): void {
  view.setInt32(pos + Field.QUEUEID, queueId);
  setInt64(view, pos + Field.QUEUEOFFSET, queueOffset);
  setInt64(view, pos + Field.PHYSICALOFFSET, physicalOffset);
  setInt64(view, pos + Field.STORETIMESTAMP, storeTimestamp);
  view.setUint32(pos + Field.CRC, recordCrc(buf, pos, size));
}

/** A non-negative integer below 2^53 as a big-endian int64. */
export function setInt64(view: DataView, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  view.setInt32(pos, hi);
  view.setUint32(pos + 4, value - hi * TWO_32);
}

export function getInt64(view: DataView, pos: number): number {
  return view.getInt32(pos) * TWO_32 + view.getUint32(pos + 4);
}

/** A DataView over exactly the bytes of `buf`. */
export function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
