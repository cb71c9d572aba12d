/**
 * Walks the records of one CommitLog segment from disk, verifying each, through a bounded
 * read window: recovery and the startup reput read whole segments without loading them
 * (memory stays at the window, whatever the size of the log).
 *
 * Each step looks at the 8-byte record head at `pos`:
 *   TOTALSIZE == 0                       -> END: the log ends here (never-written zeros)
 *   MAGIC == BLANK, TOTALSIZE == rest    -> SEGMENT_FULL: the filler; next record is in the next segment
 *   MAGIC == MESSAGE, shape + CRC + PHYSICALOFFSET agree -> visit, pos += TOTALSIZE
 *   anything else                        -> CORRUPT: a torn or garbled tail ends the log here
 * A tail shorter than a BLANK (8 bytes) at the segment's end counts as SEGMENT_FULL: the
 * writer never leaves one, but a reader must not trip over it.
 */
import { BLANK_MAGIC, Field, MESSAGE_MAGIC, MIN_BLANK_SIZE, readRecordShape, type RecordShape } from '../../../client/src/codec/record';
import { readInt64 } from '../../../client/src/codec/int64';
import type { MappedFile } from './mapped-file';
import { hasValidRecordCrc } from './record-crc';

export type ScanStatus = 'END' | 'SEGMENT_FULL' | 'CORRUPT';

export interface ScanResult {
  status: ScanStatus;
  /** Position in the segment where the valid records stop. */
  position: number;
  /** Why CORRUPT, for the log. */
  reason?: string;
}

/** Called per valid record; `buf` is only valid during the call. */
export type RecordVisitor = (buf: Buffer, pos: number, shape: RecordShape, physicalOffset: number) => void;

const WINDOW_BYTES = 4 * 1024 * 1024;

export class SegmentScanner {
  private window: Buffer;
  private winFilePos = 0;
  private winLen = 0;
  private file: MappedFile | undefined;

  constructor(windowBytes = WINDOW_BYTES) {
    this.window = Buffer.allocUnsafe(windowBytes);
  }

  /**
   * Scans `file` from `startPosition` up to its wrotePosition. `verifyCrc` false skips the
   * CRC (shape and PHYSICALOFFSET are still checked): for a replay over a log that recovery
   * has verified already.
   */
  scan(file: MappedFile, startPosition: number, visit?: RecordVisitor, verifyCrc = true): ScanResult {
    this.file = file;
    this.winLen = 0;
    const limit = file.wrotePosition;
    let pos = startPosition;
    try {
      for (;;) {
        const left = limit - pos;
        if (left === 0) return { status: pos >= file.fileSize ? 'SEGMENT_FULL' : 'END', position: pos };
        if (left < MIN_BLANK_SIZE) {
          return pos + left >= file.fileSize
            ? { status: 'SEGMENT_FULL', position: pos }
            : { status: 'END', position: pos };
        }
        let at = this.ensure(pos, MIN_BLANK_SIZE);
        const size = this.window.readInt32BE(at);
        const magic = this.window.readInt32BE(at + Field.MAGICCODE);
        if (size === 0) return { status: 'END', position: pos };
        if (magic === BLANK_MAGIC) {
          if (size === file.fileSize - pos) return { status: 'SEGMENT_FULL', position: pos };
          return { status: 'CORRUPT', position: pos, reason: `BLANK of ${size} bytes does not reach the segment end` };
        }
        if (magic !== MESSAGE_MAGIC) return { status: 'CORRUPT', position: pos, reason: 'bad magic code' };
        if (size < Field.BODY + 3 || size > left) {
          return { status: 'CORRUPT', position: pos, reason: `record size ${size} runs past the written data` };
        }
        at = this.ensure(pos, size);
        const shape = readRecordShape(this.window, at, at + size);
        if (!shape) return { status: 'CORRUPT', position: pos, reason: 'malformed record' };
        if (verifyCrc && !hasValidRecordCrc(this.window, at, size)) return { status: 'CORRUPT', position: pos, reason: 'CRC mismatch' };
        const physicalOffset = file.fileFromOffset + pos;
        if (readInt64(this.window, at + Field.PHYSICALOFFSET) !== physicalOffset) {
          return { status: 'CORRUPT', position: pos, reason: 'PHYSICALOFFSET does not match the position' };
        }
        visit?.(this.window, at, shape, physicalOffset);
        pos += size;
      }
    } finally {
      this.file = undefined;
    }
  }

  /** Makes [pos, pos + n) of the file readable in the window; returns where it starts there. */
  private ensure(pos: number, n: number): number {
    if (pos >= this.winFilePos && pos + n <= this.winFilePos + this.winLen) return pos - this.winFilePos;
    if (n > this.window.length) this.window = Buffer.allocUnsafe(n);
    this.winFilePos = pos;
    this.winLen = this.file!.readInto(pos, this.window, 0, this.window.length);
    return 0;
  }
}
