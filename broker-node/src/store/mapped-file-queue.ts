/**
 * The ordered segment files of one log in one directory (RocketMQ's MappedFileQueue):
 * the CommitLog's, or one ConsumeQueue's. Segments are contiguous: each starts where the
 * one before ends, so an offset maps to exactly one segment.
 *
 *   [00000000000000000000][00000000001073741824][00000000002147483648]
 *    minOffset                                        ...maxOffset = last.from + last.wrotePosition
 */
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError, type Logger, silentLogger } from '@cirrusmq/client/protocol';
import { AllocateMappedFileService } from './allocate-mapped-file-service';
import { MappedFile, fileNameToOffset, fsDataSync, type DataSync } from './mapped-file';

export interface MappedFileQueueOptions {
  /** fdatasync for flushAsync (tests inject a counting or slow one). */
  dataSync?: DataSync;
  /** Zero-fill the next segment ahead of time (allocate-mapped-file-service.ts); otherwise new segments are sparse. */
  preallocate?: boolean;
  logger?: Logger;
}

export class MappedFileQueue {
  readonly mappedFiles: MappedFile[] = [];
  readonly allocator: AllocateMappedFileService | undefined;
  private readonly dataSync: DataSync;

  constructor(
    readonly storePath: string,
    /** Size of new segments; existing ones keep the size they were created with. */
    readonly mappedFileSize: number,
    options: MappedFileQueueOptions = {},
  ) {
    this.dataSync = options.dataSync ?? fsDataSync;
    if (options.preallocate) {
      this.allocator = new AllocateMappedFileService(storePath, mappedFileSize, options.logger ?? silentLogger, this.dataSync);
    }
  }

  /** Opens the existing segments, all counted as full until recovery truncates. */
  load(): void {
    fs.mkdirSync(this.storePath, { recursive: true });
    this.allocator?.removeLeftovers();
    const names = fs
      .readdirSync(this.storePath)
      .map((name) => ({ name, offset: fileNameToOffset(name) }))
      .filter((f): f is { name: string; offset: number } => f.offset !== undefined)
      .sort((a, b) => a.offset - b.offset);
    for (const { name, offset } of names) {
      const file = MappedFile.open(path.join(this.storePath, name), offset, this.dataSync);
      const prev = this.mappedFiles.at(-1);
      if (prev && prev.fileFromOffset + prev.fileSize !== offset) {
        this.shutdown();
        throw new CirrusError(
          'INTERNAL',
          `segments in ${this.storePath} are not contiguous: ${prev.fileName} (${prev.fileSize} bytes) is followed by ${file.fileName}`,
        );
      }
      this.mappedFiles.push(file);
    }
  }

  getFirstMappedFile(): MappedFile | undefined {
    return this.mappedFiles[0];
  }

  getLastMappedFile(): MappedFile | undefined {
    return this.mappedFiles.at(-1);
  }

  /** The segment to append to: the last one, or a new one when it is full (or none exists). */
  getLastMappedFileOrCreate(startOffset = 0): MappedFile {
    const last = this.getLastMappedFile();
    if (last && !last.isFull()) return last;
    const from = last ? last.fileFromOffset + last.fileSize : startOffset;
    const file = this.allocator ? this.allocator.take(from) : MappedFile.create(this.storePath, from, this.mappedFileSize, this.dataSync);
    this.mappedFiles.push(file);
    this.allocator?.prepare(from + this.mappedFileSize);
    return file;
  }

  /** Starts preparing the segment that will be needed next (after load and recovery). */
  prepareNext(startOffset = 0): void {
    const last = this.getLastMappedFile();
    this.allocator?.prepare(last ? last.fileFromOffset + last.fileSize : startOffset);
  }

  /** The segment holding `offset` (binary search), or undefined outside [min, end of last). */
  findMappedFileByOffset(offset: number): MappedFile | undefined {
    let lo = 0;
    let hi = this.mappedFiles.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const f = this.mappedFiles[mid]!;
      if (offset < f.fileFromOffset) hi = mid - 1;
      else if (offset >= f.fileFromOffset + f.fileSize) lo = mid + 1;
      else return f;
    }
    return undefined;
  }

  getMinOffset(): number {
    return this.getFirstMappedFile()?.fileFromOffset ?? 0;
  }

  getMaxOffset(): number {
    const last = this.getLastMappedFile();
    return last ? last.fileFromOffset + last.wrotePosition : 0;
  }

  /**
   * Drops everything at and past `offset`: the segment holding it keeps its head (the rest
   * zeroed), later segments are deleted. A segment that starts exactly at `offset` is kept
   * empty, as RocketMQ does.
   */
  truncateDirtyFiles(offset: number): void {
    const keep: MappedFile[] = [];
    for (const file of this.mappedFiles) {
      const tail = file.fileFromOffset + file.fileSize;
      if (tail <= offset) {
        keep.push(file);
      } else if (offset >= file.fileFromOffset) {
        file.truncateTo(offset - file.fileFromOffset);
        keep.push(file);
      } else {
        file.destroy();
      }
    }
    this.mappedFiles.length = 0;
    this.mappedFiles.push(...keep);
  }

  /** Segments with unsynced bytes: only the last one or two, so walk back from the end. */
  private dirtyFiles(): MappedFile[] {
    const out: MappedFile[] = [];
    for (let i = this.mappedFiles.length - 1; i >= 0; i--) {
      const f = this.mappedFiles[i]!;
      if (f.isDirty()) out.push(f);
      else if (i < this.mappedFiles.length - 1) break;
    }
    return out;
  }

  /**
   * The offset up to which everything is on disk (RocketMQ's flushedWhere): the flushed
   * position of the first segment with unsynced bytes, or the end when none has any.
   */
  getFlushedWhere(): number {
    let where = this.getMaxOffset();
    for (let i = this.mappedFiles.length - 1; i >= 0; i--) {
      const f = this.mappedFiles[i]!;
      if (f.isDirty()) where = f.fileFromOffset + f.flushedPosition;
      else if (i < this.mappedFiles.length - 1) break;
    }
    return where;
  }

  flush(): void {
    for (const f of this.dirtyFiles().reverse()) f.flush();
  }

  /**
   * fdatasync, oldest segment first, until everything written before the call is on disk.
   * Loops because a segment's flush in flight may have started before the last writes.
   */
  async flushAsync(): Promise<void> {
    const target = this.getMaxOffset();
    // (min: a write that failed rolls the log back below the target)
    while (this.getFlushedWhere() < Math.min(target, this.getMaxOffset())) {
      const dirty = this.dirtyFiles().reverse();
      if (dirty.length === 0) return;
      for (const f of dirty) await f.flushAsync();
    }
  }

  /** Stops preparing segments ahead (before shutdown closes the files). */
  async stopAllocating(): Promise<void> {
    await this.allocator?.shutdown();
  }

  shutdown(): void {
    for (const f of this.mappedFiles) f.close();
  }

  /**
   * Retention: deletes the `count` oldest segments (never the last one, so the log keeps its
   * end offset). Deleting from the front keeps the rest contiguous. Returns how many went.
   */
  deleteFirstFiles(count: number): number {
    const n = Math.max(0, Math.min(count, this.mappedFiles.length - 1));
    for (const f of this.mappedFiles.splice(0, n)) f.destroy();
    return n;
  }

  /** Deletes every segment and the directory (a ConsumeQueue being rebuilt). */
  destroy(): void {
    for (const f of this.mappedFiles) f.destroy();
    this.mappedFiles.length = 0;
    fs.rmSync(this.storePath, { recursive: true, force: true });
  }
}
