/**
 * Prepares the next CommitLog segment ahead of time (RocketMQ's AllocateMappedFileService):
 * while segment N takes appends, segment N+1 is zero-filled in 1 MiB chunks on the thread
 * pool, fdatasync'd, and parked under a temporary name. Rollover renames it into place.
 * OFF by default (preallocateSegments / CIRRUSMQ_COMMITLOG_PREALLOCATE): segments are sparse.
 *
 *   {dir}/00000000001073741824.alloc   zero-filling, or ready (not a segment yet: the name
 *                                      does not parse, so load() never opens it)
 *   {dir}/00000000001073741824         after take(): a segment, wrotePosition 0
 *
 * Zeros or sparse, measured on this machine (ext4, 2 cores):
 *   appends alone (1 GiB file, 1 MiB writeSync)      sparse ~720 MB/s, zero-filled ~1195 MB/s
 *     with fdatasync every 4 MiB; without, ~7.7 vs ~13 GB/s: an fdatasync into a sparse
 *     file also commits the block allocation (a journal commit), into zeros it is data only.
 *   appends + the fill itself (64 MiB segments,       sparse ~430 MB/s, zero-filled ~360 MB/s
 *     37 KB writes, fdatasync every 1 MiB)            (every 256 KiB: ~223 vs ~237)
 *   the store, SYNC_FLUSH, 64 producers, the fill     sparse ~200 MB/s, zero-filled ~175 MB/s
 *     running behind (bench:store)
 * So a zero-filled segment appends faster, but filling it costs the same bytes again: in a
 * sustained steady state (the fill included) sparse is as fast or faster, and it is the
 * default. Preallocation pays off only when the disk has idle time to fill ahead, and then
 * mainly for group-commit latency. When on, the fill is paced (ZERO_FILL_BYTES_PER_SEC),
 * and if rollover comes before the file is ready the segment is created sparse at once:
 * the writer never waits for zeros.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@cirrusmq/client/protocol';
import { MappedFile, fsDataSync, offsetToFileName, type DataSync } from './mapped-file';

export const PREPARED_SUFFIX = '.alloc';
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);
/**
 * The zeros are synced every this many bytes, not once at the end: one fdatasync of a whole
 * GiB holds the disk (and the journal) for about a second, and every group commit of the
 * live segment would wait behind it.
 */
const ZERO_SYNC_BYTES = 16 * 1024 * 1024;
/**
 * The fill is paced to this rate (a 1 GiB segment in 8 s): unpaced, it competes with the
 * live segment's writes and group commits for the disk. A broker that writes faster than
 * this for a whole segment gets its next one sparse.
 */
export const ZERO_FILL_BYTES_PER_SEC = 128 * 1024 * 1024;

interface Preparation {
  fromOffset: number;
  tmpPath: string;
  ready: boolean;
  cancelled: boolean;
  done: Promise<void>;
}

export class AllocateMappedFileService {
  private pending: Preparation | undefined;
  private stopped = false;
  /** Segments taken preallocated / created sparse because the next one was not ready. */
  preallocatedTaken = 0;
  sparseCreated = 0;

  constructor(
    private readonly dir: string,
    private readonly fileSize: number,
    private readonly logger: Logger,
    /** For the segments' own flushes; the zero-fill always syncs with fs (tests count only log flushes). */
    private readonly dataSync: DataSync = fsDataSync,
    private readonly bytesPerSec = ZERO_FILL_BYTES_PER_SEC,
  ) {}

  /** Deletes leftovers of a preparation a crash interrupted. */
  removeLeftovers(): void {
    if (!fs.existsSync(this.dir)) return;
    for (const name of fs.readdirSync(this.dir)) {
      if (name.endsWith(PREPARED_SUFFIX)) fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }

  /** Starts zero-filling the segment that starts at `fromOffset` (once; a different offset replaces it). */
  prepare(fromOffset: number): void {
    if (this.stopped) return;
    if (this.pending?.fromOffset === fromOffset) return;
    this.cancelPending();
    const tmpPath = path.join(this.dir, offsetToFileName(fromOffset) + PREPARED_SUFFIX);
    const prep: Preparation = { fromOffset, tmpPath, ready: false, cancelled: false, done: Promise.resolve() };
    prep.done = this.zeroFill(prep).then(
      () => {
        if (prep.cancelled) fs.rmSync(tmpPath, { force: true });
        else prep.ready = true;
      },
      (err: unknown) => {
        fs.rmSync(tmpPath, { force: true });
        if (!prep.cancelled) this.logger.warn('segment preallocation failed; the next segment will be sparse', { err, segment: path.basename(tmpPath) });
        if (this.pending === prep) this.pending = undefined;
      },
    );
    this.pending = prep;
  }

  /** The segment at `fromOffset`: the prepared one when it is ready, otherwise a sparse one now. */
  take(fromOffset: number): MappedFile {
    const prep = this.pending;
    if (prep && prep.fromOffset === fromOffset && prep.ready) {
      this.pending = undefined;
      this.preallocatedTaken++;
      return MappedFile.adopt(prep.tmpPath, this.dir, fromOffset, this.fileSize, this.dataSync);
    }
    this.cancelPending();
    this.sparseCreated++;
    return MappedFile.create(this.dir, fromOffset, this.fileSize, this.dataSync);
  }

  /** Resolves when the preparation in flight (if any) has finished: benchmarks start from a steady state. */
  async whenReady(): Promise<void> {
    await this.pending?.done;
  }

  /** Stops preparing; an unused prepared file is deleted (recreated after the restart). */
  async shutdown(): Promise<void> {
    this.stopped = true;
    const prep = this.pending;
    this.cancelPending();
    await prep?.done;
  }

  private cancelPending(): void {
    const prep = this.pending;
    if (!prep) return;
    this.pending = undefined;
    prep.cancelled = true;
    if (prep.ready) fs.rmSync(prep.tmpPath, { force: true });
  }

  /** Writes zeros in 1 MiB chunks with async writes (the event loop keeps serving), synced as it goes. */
  private async zeroFill(prep: Preparation): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const fh = await fs.promises.open(prep.tmpPath, 'w');
    try {
      let unsynced = 0;
      const started = performance.now();
      for (let pos = 0; pos < this.fileSize && !prep.cancelled; ) {
        const n = Math.min(ZERO_CHUNK.length, this.fileSize - pos);
        const { bytesWritten } = await fh.write(ZERO_CHUNK, 0, n, pos);
        pos += bytesWritten;
        unsynced += bytesWritten;
        if (unsynced >= ZERO_SYNC_BYTES) {
          await fh.datasync();
          unsynced = 0;
        }
        const ahead = (pos / this.bytesPerSec) * 1000 - (performance.now() - started);
        if (ahead > 1) await new Promise((r) => setTimeout(r, ahead));
      }
      if (!prep.cancelled) await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}
