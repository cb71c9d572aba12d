/**
 * A write-ahead chunk: the bytes a run of CommitLog appends wrote, as parts that say where
 * they go, so a restore can write them back exactly (including the BLANK that sealed a
 * segment, whose zeros are not carried).
 *
 *   part:    PHYSICALOFFSET (8) | LENGTH (4) | ENDOFFSET (8) | LENGTH bytes
 *            ENDOFFSET > PHYSICALOFFSET + LENGTH when the part sealed its segment
 *   trailer: PARTCOUNT (4) | CRC (4, zlib.crc32 of everything before it) | MAGIC (4)
 *
 * Object key: `wal/{20-digit start}-{20-digit end}`: listing the prefix gives every chunk's
 * range without reading it, and keys sort by offset.
 */
import { crc32 } from 'node:zlib';
import { CirrusError, readInt64, writeInt64 } from '@cirrusmq/client/protocol';
import { offsetToFileName } from '../../store/mapped-file';

export const WAL_PREFIX = 'wal/';
const WAL_MAGIC = 0x43574c31; // "CWL1"
export const PART_HEADER_BYTES = 20;
const TRAILER_BYTES = 12;

export interface WalPart {
  physicalOffset: number;
  bytes: Buffer;
  /** The log's end after this part: past the segment's end when the part sealed it. */
  endOffset: number;
}

export function walChunkKey(start: number, end: number): string {
  return `${WAL_PREFIX}${offsetToFileName(start)}-${offsetToFileName(end)}`;
}

/** The range a chunk key names, or undefined for a key that is not a chunk. */
export function parseWalChunkKey(key: string): { start: number; end: number } | undefined {
  const m = /^wal\/(\d{20})-(\d{20})$/.exec(key);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end > start ? { start, end } : undefined;
}

/** Writes one part header at `pos` (the bytes follow it). */
export function writePartHeader(buf: Buffer, pos: number, physicalOffset: number, length: number, endOffset: number): void {
  writeInt64(buf, physicalOffset, pos);
  buf.writeUInt32BE(length, pos + 8);
  writeInt64(buf, endOffset, pos + 12);
}

/** Seals a chunk whose parts fill buf[0, length): appends the trailer; returns the new length. */
export function writeTrailer(buf: Buffer, length: number, partCount: number): number {
  buf.writeUInt32BE(partCount, length);
  buf.writeUInt32BE(crc32(buf.subarray(0, length + 4)), length + 4);
  buf.writeUInt32BE(WAL_MAGIC, length + 8);
  return length + TRAILER_BYTES;
}

export const WAL_TRAILER_BYTES = TRAILER_BYTES;

/** Decodes a chunk; parts' bytes are views into `buf`. Throws on any damage. */
export function decodeWalChunk(buf: Buffer): WalPart[] {
  const bad = (why: string) => new CirrusError('TIER_OBJECT_NOT_FOUND', `write-ahead chunk is damaged: ${why}`);
  if (buf.length < TRAILER_BYTES) throw bad('too short');
  const end = buf.length - TRAILER_BYTES;
  if (buf.readUInt32BE(end + 8) !== WAL_MAGIC) throw bad('bad magic');
  if (buf.readUInt32BE(end + 4) !== crc32(buf.subarray(0, end + 4))) throw bad('CRC mismatch');
  const count = buf.readUInt32BE(end);
  const parts: WalPart[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + PART_HEADER_BYTES > end) throw bad('part header past the end');
    const physicalOffset = readInt64(buf, pos);
    const length = buf.readUInt32BE(pos + 8);
    const endOffset = readInt64(buf, pos + 12);
    pos += PART_HEADER_BYTES;
    if (pos + length > end || endOffset < physicalOffset + length) throw bad('part bytes past the end');
    parts.push({ physicalOffset, bytes: buf.subarray(pos, pos + length), endOffset });
    pos += length;
  }
  if (pos !== end) throw bad('bytes after the last part');
  return parts;
}
