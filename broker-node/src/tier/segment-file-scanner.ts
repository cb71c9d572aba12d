/**
 * Reads a sealed CommitLog segment file record by record, asynchronously and through a
 * bounded window, for the uploader: it checks every record (shape, CRC, PHYSICALOFFSET)
 * before the segment goes to S3, builds the ConsumeQueue extract, and finds where the data
 * ends (the BLANK filler), so only the written bytes are uploaded. Async reads keep the
 * event loop serving sends while a 1 GiB segment is read. A restore scans a tiered segment
 * object the same way (scanSegment over ranged GETs) to rebuild the key index of a segment
 * uploaded before index extracts existed.
 */
import fs from 'node:fs/promises';
import {
  BLANK_MAGIC,
  CirrusError,
  Field,
  hasValidCrc,
  MESSAGE_MAGIC,
  MIN_BLANK_SIZE,
  readInt64,
  readRecordShape,
  type RecordShape,
} from '@cirrusmq/client/protocol';

/** Called per verified record; a returned promise is awaited before the scan goes on (the window stays put). */
export type SegmentRecordVisitor = (buf: Buffer, pos: number, shape: RecordShape, physicalOffset: number) => void | Promise<void>;

/** Reads up to `length` bytes at `position` into `into` from 0; resolves to the count read. */
export type SegmentReader = (into: Buffer, length: number, position: number) => Promise<number>;

export interface SegmentScanSummary {
  /** Bytes of the segment that hold data: its records and the BLANK head (0 for an empty segment). */
  dataBytes: number;
  records: number;
  firstStoreTimestamp: number;
  lastStoreTimestamp: number;
}

const WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * With a pace, the scan stops after this many verified bytes (about 1,000 records of 1 KB,
 * a millisecond or two of work) for the pace to give the event loop back: the uploader
 * then holds it that long at a time, not for a whole 4 MiB window.
 */
const PACE_SLICE_BYTES = 1024 * 1024;

/** Awaited after every PACE_SLICE_BYTES verified (the uploader's UploadPacer.take). */
export type ScanPace = (bytes: number) => Promise<void>;

export async function scanSegmentFile(
  filePath: string,
  fileFromOffset: number,
  fileSize: number,
  visit: SegmentRecordVisitor,
  windowBytes = WINDOW_BYTES,
  pace?: ScanPace,
): Promise<SegmentScanSummary> {
  const fh = await fs.open(filePath, 'r');
  try {
    return await scanSegment(
      async (into, length, position) => (await fh.read(into, 0, length, position)).bytesRead,
      filePath,
      fileFromOffset,
      fileSize,
      visit,
      windowBytes,
      pace,
    );
  } finally {
    await fh.close();
  }
}

/** scanSegmentFile over any reader; `name` is for errors. */
export async function scanSegment(
  read: SegmentReader,
  name: string,
  fileFromOffset: number,
  fileSize: number,
  visit: SegmentRecordVisitor,
  windowBytes = WINDOW_BYTES,
  pace?: ScanPace,
): Promise<SegmentScanSummary> {
  const summary: SegmentScanSummary = { dataBytes: 0, records: 0, firstStoreTimestamp: 0, lastStoreTimestamp: 0 };
  let window = Buffer.allocUnsafe(windowBytes);
  let winPos = 0; // file position of window[0]
  let winLen = 0;
  let pos = 0;
  const corrupt = (why: string) => new CirrusError('INTERNAL', `segment ${name} is damaged at position ${pos}: ${why}`);
  /** Makes [pos, pos + n) readable in the window; false at the end of the file. */
  const ensure = async (n: number): Promise<boolean> => {
    if (pos >= winPos && pos + n <= winPos + winLen) return true;
    if (n > window.length) window = Buffer.allocUnsafe(n);
    winLen = await read(window, Math.min(window.length, fileSize - pos), pos);
    winPos = pos;
    return winLen >= n;
  };
  let pacedTo = 0;
  while (pos < fileSize) {
    if (pace && pos - pacedTo >= PACE_SLICE_BYTES) {
      await pace(pos - pacedTo);
      pacedTo = pos;
    }
    if (fileSize - pos < MIN_BLANK_SIZE) break; // a tail too small for a BLANK head
    if (!(await ensure(MIN_BLANK_SIZE))) throw corrupt('file shorter than its size');
    let at = pos - winPos;
    const size = window.readInt32BE(at);
    const magic = window.readInt32BE(at + Field.MAGICCODE);
    if (size === 0) break; // never written: a segment sealed by a shutdown's short tail
    if (magic === BLANK_MAGIC) {
      if (size !== fileSize - pos) throw corrupt(`BLANK of ${size} bytes does not reach the end`);
      pos += MIN_BLANK_SIZE;
      break;
    }
    if (magic !== MESSAGE_MAGIC || size < Field.BODY + 3 || size > fileSize - pos) throw corrupt('not a record');
    if (!(await ensure(size))) throw corrupt('record runs past the file');
    at = pos - winPos;
    const shape = readRecordShape(window, at, at + size);
    if (!shape || !hasValidCrc(window, at, size)) throw corrupt('CRC mismatch or malformed record');
    const physicalOffset = fileFromOffset + pos;
    if (readInt64(window, at + Field.PHYSICALOFFSET) !== physicalOffset) throw corrupt('PHYSICALOFFSET does not match');
    const storeTimestamp = readInt64(window, at + Field.STORETIMESTAMP);
    if (summary.records === 0) summary.firstStoreTimestamp = storeTimestamp;
    summary.lastStoreTimestamp = storeTimestamp;
    summary.records++;
    const visited = visit(window, at, shape, physicalOffset);
    if (visited) await visited;
    pos += size;
  }
  summary.dataBytes = pos;
  return summary;
}
