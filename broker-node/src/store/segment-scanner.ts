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
import { BLANK_MAGIC, Field, getInt64, hasValidCrc, MESSAGE_MAGIC, MIN_BLANK_SIZE, type RecordShape, recordSize, viewOf } from '@cirrusmq/client/protocol';
import type { MappedFile } from './mapped-file';

export type ScanStatus = 'END' | 'SEGMENT_FULL' | 'CORRUPT';

export interface ScanResult {
  status: ScanStatus;
  /** Position in the segment where the valid records stop. */
  position: number;
  /** Why CORRUPT, for the log. */
  reason?: string;
}

/**
 * Called per valid record; `buf` and `shape` are only valid during the call (the window is
 * refilled and the one shape object is reused for the next record).
 */
export type RecordVisitor = (buf: Buffer, pos: number, shape: RecordShape, physicalOffset: number) => void;

/** What one scan does besides finding the end: which records it CRC-checks and which it visits. */
export interface ScanOptions {
  visit?: RecordVisitor;
  /** Records that end past this position of the segment get their CRC checked (0: all; Infinity: none). */
  verifyFrom?: number;
  /** Records at or past this position are visited (0: all). */
  visitFrom?: number;
}

const WINDOW_BYTES = 4 * 1024 * 1024;
/** The smallest valid record: header, empty body, 1-byte topic length, 2-byte properties length. */
const MIN_RECORD = Field.BODY + 3;

export class SegmentScanner {
  private window: Buffer;
  private view: DataView;
  private winFilePos = 0;
  private winLen = 0;
  private file: MappedFile | undefined;
  /** Log offset of the first record whose CRC a scan checked (-1: none yet); across scans of one walk. */
  firstVerified = -1;
  /** The one shape handed to visitors (no object per record: a replay visits tens of thousands). */
  private readonly shape: RecordShape = { size: 0, bodyLength: 0, topicStart: 0, topicLength: 0, propertiesStart: 0, propertiesLength: 0 };

  constructor(windowBytes = WINDOW_BYTES) {
    this.window = Buffer.allocUnsafe(windowBytes);
    this.view = viewOf(this.window);
  }

  /**
   * Scans `file` from `startPosition` up to its wrotePosition, checking each record's shape
   * and PHYSICALOFFSET, and its CRC from `verifyFrom` on (a replay over a log recovery has
   * verified already skips it; recovery with a replay checks the CRC only from the
   * checkpoint on but visits from the replay's start, so the tail is read once).
   *
   * The loop reads the fields through one DataView and allocates nothing per record but the
   * CRC's view (it runs once per start, mostly before V8 has optimized anything).
   */
  scan(file: MappedFile, startPosition: number, options: ScanOptions = {}): ScanResult {
    const visit = options.visit;
    const verifyFrom = options.verifyFrom ?? 0;
    const visitFrom = options.visitFrom ?? 0;
    this.file = file;
    this.winLen = 0;
    const limit = file.wrotePosition;
    const fileSize = file.fileSize;
    const shape = this.shape;
    let pos = startPosition;
    try {
      for (;;) {
        const left = limit - pos;
        if (left === 0) return { status: pos >= fileSize ? 'SEGMENT_FULL' : 'END', position: pos };
        if (left < MIN_BLANK_SIZE) {
          return pos + left >= fileSize ? { status: 'SEGMENT_FULL', position: pos } : { status: 'END', position: pos };
        }
        let at = pos - this.winFilePos;
        if (pos < this.winFilePos || at + MIN_BLANK_SIZE > this.winLen) at = this.fill(pos, MIN_BLANK_SIZE);
        let view = this.view;
        const size = view.getInt32(at);
        const magic = view.getInt32(at + Field.MAGICCODE);
        if (size === 0) return { status: 'END', position: pos };
        if (magic === BLANK_MAGIC) {
          if (size === fileSize - pos) return { status: 'SEGMENT_FULL', position: pos };
          return { status: 'CORRUPT', position: pos, reason: `BLANK of ${size} bytes does not reach the segment end` };
        }
        if (magic !== MESSAGE_MAGIC) return { status: 'CORRUPT', position: pos, reason: 'bad magic code' };
        if (size < MIN_RECORD || size > left) {
          return { status: 'CORRUPT', position: pos, reason: `record size ${size} runs past the written data` };
        }
        if (at + size > this.winLen) {
          at = this.fill(pos, size);
          view = this.view;
        }
        // The shape (readRecordShape's checks, inline).
        const bodyLength = view.getInt32(at + Field.BODYLENGTH);
        if (bodyLength < 0 || Field.BODY + bodyLength + 3 > size) return { status: 'CORRUPT', position: pos, reason: 'malformed record' };
        const topicAt = at + Field.BODY + bodyLength;
        const topicLength = view.getUint8(topicAt);
        if (Field.BODY + bodyLength + 1 + topicLength + 2 > size) return { status: 'CORRUPT', position: pos, reason: 'malformed record' };
        const propsAt = topicAt + 1 + topicLength;
        const propertiesLength = view.getUint16(propsAt);
        if (recordSize(bodyLength, topicLength, propertiesLength) !== size) return { status: 'CORRUPT', position: pos, reason: 'malformed record' };
        // A record that ends past verifyFrom was not all on disk when the checkpoint was written.
        if (pos + size > verifyFrom) {
          if (this.firstVerified < 0) this.firstVerified = file.fileFromOffset + pos;
          if (!hasValidCrc(this.window, at, size)) return { status: 'CORRUPT', position: pos, reason: 'CRC mismatch' };
        }
        const physicalOffset = file.fileFromOffset + pos;
        if (getInt64(view, at + Field.PHYSICALOFFSET) !== physicalOffset) {
          return { status: 'CORRUPT', position: pos, reason: 'PHYSICALOFFSET does not match the position' };
        }
        if (visit !== undefined && pos >= visitFrom) {
          shape.size = size;
          shape.bodyLength = bodyLength;
          shape.topicStart = topicAt + 1;
          shape.topicLength = topicLength;
          shape.propertiesStart = propsAt + 2;
          shape.propertiesLength = propertiesLength;
          visit(this.window, at, shape, physicalOffset);
        }
        pos += size;
      }
    } finally {
      this.file = undefined;
    }
  }

  /** Refills the window from `pos` so [pos, pos + n) is in it; returns where it starts there (0). */
  private fill(pos: number, n: number): number {
    if (n > this.window.length) {
      this.window = Buffer.allocUnsafe(n);
      this.view = viewOf(this.window);
    }
    this.winFilePos = pos;
    this.winLen = this.file!.readInto(pos, this.window, 0, this.window.length);
    return 0;
  }
}
