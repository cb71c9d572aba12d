/**
 * The CommitLog as reads see it: the local segments, and below them the tier (deleted
 * locally once tiered). The one place that decides where a CommitLog offset is read from;
 * getMessage (get-message.ts) and the lookups by key and id (index/query-message-service.ts)
 * both read through it.
 *
 *   offset < local minimum, with a tier  ->  the tier (TIER_UNAVAILABLE while it cannot say where)
 *   otherwise                            ->  the local segment holding it (none: not stored)
 */
import type { CommitLog } from './commit-log';
import type { StoreTier } from './store-tier';

export interface LogSegment {
  readonly end: number | undefined;
  readInto(offset: number, length: number, into: Buffer, intoOffset: number): Promise<number>;
}

const NOT_STORED: LogSegment = { end: undefined, readInto: async () => 0 };

export class CommitLogReader {
  constructor(
    private readonly commitLog: CommitLog,
    private readonly tier: StoreTier | undefined,
  ) {}

  /** The first offset readable: the tier's first segment, or the local log's first. */
  minOffset(): number {
    const local = this.commitLog.getMinOffset();
    return this.tier ? this.tier.minOffset(local) : local;
  }

  maxOffset(): number {
    return this.commitLog.getMaxOffset();
  }

  /**
   * The segment (local or tiered) holding `offset`, looked up once for a run of reads: its end
   * (a read must not cross it; undefined when no segment is known to hold the offset) and a
   * read of it. readInto answers the bytes read: fewer when the local log does not hold them;
   * a tiered range is read whole or throws (TIER_UNAVAILABLE while the tier cannot say where).
   */
  segmentAt(offset: number): LogSegment {
    const tier = this.tier;
    if (tier !== undefined && offset < this.commitLog.getMinOffset()) {
      return {
        end: tier.segmentEnd(offset),
        readInto: async (from, length, into, intoOffset) => {
          await tier.readInto(from, length, into, intoOffset);
          return length;
        },
      };
    }
    const file = this.commitLog.findMappedFileByOffset(offset);
    if (!file) return NOT_STORED;
    return {
      end: file.fileFromOffset + file.fileSize,
      readInto: async (from, length, into, intoOffset) => file.readInto(from - file.fileFromOffset, into, intoOffset, length),
    };
  }

  /** `size` bytes at `offset` (a new buffer), or undefined when no one segment holds them all. */
  async read(offset: number, size: number): Promise<Buffer | undefined> {
    const segment = this.segmentAt(offset);
    if (segment.end === undefined || offset + size > segment.end) return undefined;
    const buf = Buffer.allocUnsafe(size);
    return (await segment.readInto(offset, size, buf, 0)) === size ? buf : undefined;
  }
}
