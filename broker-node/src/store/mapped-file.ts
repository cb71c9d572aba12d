/**
 * One segment file of a log (RocketMQ's MappedFile), with positioned fs reads and writes on
 * an fd instead of mmap: Node has no mmap, and one writeSync of a batch copied into a reused
 * buffer is as fast here (docs/architecture.md, "Figures the design rests on").
 *
 *   {dir}/00000000000001073741824      <- name = the file's first offset, 20 digits
 *   |<------------- fileSize ------------->|
 *   | written ...   |  zeros               |
 *   0          wrotePosition           fileSize
 *
 * The file always has its full size and its unwritten part reads as zeros, so recovery
 * stops at the first zero size. Two ways to get there (allocate-mapped-file-service.ts
 * has the measurements behind the default):
 *   - sparse: ftruncate to full size now (create(); the default, and ConsumeQueue files);
 *   - preallocated: zeros written and synced ahead of time, renamed into place (optional:
 *     appends and fdatasync then touch no block map, but the fill costs the bytes again).
 */
import fs from 'node:fs';
import path from 'node:path';

/** Names sort as numbers when zero-padded to the digits of 2^63. */
export const FILE_NAME_DIGITS = 20;
const FILE_NAME = /^\d{20}$/;

export function offsetToFileName(offset: number): string {
  return String(offset).padStart(FILE_NAME_DIGITS, '0');
}

/** The start offset a file name encodes, or undefined for other files in the directory. */
export function fileNameToOffset(name: string): number | undefined {
  return FILE_NAME.test(name) ? Number(name) : undefined;
}

/**
 * fdatasync on the thread pool, so the event loop keeps taking writes while the disk works.
 * Injectable: tests count calls and slow them down (group commit, FLUSH_DISK_TIMEOUT).
 */
export type DataSync = (fd: number) => Promise<void>;

export const fsDataSync: DataSync = (fd) => new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export class MappedFile {
  /** Bytes written (appends go here). */
  wrotePosition: number;
  /** Bytes known to be on disk (fdatasync done up to here). */
  flushedPosition: number;
  private fd: number;
  private flushing: Promise<void> | undefined;

  private constructor(
    readonly fileName: string,
    readonly fileFromOffset: number,
    readonly fileSize: number,
    fd: number,
    position: number,
    private readonly dataSync: DataSync,
  ) {
    this.fd = fd;
    this.wrotePosition = position;
    this.flushedPosition = position;
  }

  /** A new, empty, sparse segment of `fileSize` bytes starting at log offset `fromOffset`. */
  static create(dir: string, fromOffset: number, fileSize: number, dataSync: DataSync = fsDataSync): MappedFile {
    const fileName = path.join(dir, offsetToFileName(fromOffset));
    // 'wx+' refuses to reuse a stray file: a leftover would hold another log's bytes.
    const fd = fs.openSync(fileName, 'wx+');
    try {
      fs.ftruncateSync(fd, fileSize);
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(fileName, { force: true });
      throw e;
    }
    syncDirectory(dir);
    return new MappedFile(fileName, fromOffset, fileSize, fd, 0, dataSync);
  }

  /**
   * A new, empty segment made from a file already zero-filled and synced to `fileSize`
   * (`preparedPath`): renamed to its final name, then the directory synced so the name
   * survives a crash as the data will.
   */
  static adopt(preparedPath: string, dir: string, fromOffset: number, fileSize: number, dataSync: DataSync = fsDataSync): MappedFile {
    const fileName = path.join(dir, offsetToFileName(fromOffset));
    if (fs.existsSync(fileName)) throw new Error(`${fileName} already exists`);
    fs.renameSync(preparedPath, fileName);
    syncDirectory(dir);
    const fd = fs.openSync(fileName, 'r+');
    return new MappedFile(fileName, fromOffset, fileSize, fd, 0, dataSync);
  }

  /** An existing segment; counted as full until recovery says where its data ends. */
  static open(fileName: string, fromOffset: number, dataSync: DataSync = fsDataSync): MappedFile {
    const fd = fs.openSync(fileName, 'r+');
    const { size } = fs.fstatSync(fd);
    return new MappedFile(fileName, fromOffset, size, fd, size, dataSync);
  }

  get remaining(): number {
    return this.fileSize - this.wrotePosition;
  }

  isFull(): boolean {
    return this.wrotePosition >= this.fileSize;
  }

  /** Appends `length` bytes of `buf` from `bufOffset`: one writeSync (looping only on a short write). */
  appendSync(buf: Buffer, length: number, bufOffset = 0): void {
    if (length > this.remaining) throw new RangeError(`append of ${length} bytes past the end of ${this.fileName}`);
    let done = 0;
    while (done < length) {
      done += fs.writeSync(this.fd, buf, bufOffset + done, length - done, this.wrotePosition + done);
    }
    this.wrotePosition += length;
  }

  /** Marks the rest of the file as used: after a BLANK filler, nothing more goes in. */
  seal(): void {
    this.wrotePosition = this.fileSize;
  }

  /** Copies up to `length` written bytes at `position` into `into`; returns the count copied. */
  readInto(position: number, into: Buffer, intoOffset: number, length: number): number {
    const n = Math.max(0, Math.min(length, this.wrotePosition - position));
    let done = 0;
    while (done < n) {
      const r = fs.readSync(this.fd, into, intoOffset + done, n - done, position + done);
      if (r === 0) break;
      done += r;
    }
    return done;
  }

  /** A new buffer with the written bytes at [position, position + length). */
  read(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.wrotePosition - position)));
    const n = this.readInto(position, buf, 0, buf.length);
    return n === buf.length ? buf : buf.subarray(0, n);
  }

  isDirty(): boolean {
    return this.flushedPosition < this.wrotePosition;
  }

  /** fdatasync now (shutdown, tests). */
  flush(): void {
    if (!this.isDirty()) return;
    const target = this.wrotePosition;
    fs.fdatasyncSync(this.fd);
    this.flushedPosition = Math.max(this.flushedPosition, target);
  }

  /**
   * fdatasync on the thread pool, so the event loop keeps serving while the disk works. A
   * call during a flush in flight shares it: that flush covers only what was written before
   * it began, so callers that need a position check flushedPosition afterwards.
   */
  flushAsync(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.isDirty()) return Promise.resolve();
    const target = this.wrotePosition;
    const fd = this.fd;
    this.flushing = this.dataSync(fd).then(
      () => {
        this.flushing = undefined;
        this.flushedPosition = Math.max(this.flushedPosition, target);
      },
      (err: unknown) => {
        this.flushing = undefined;
        throw err;
      },
    );
    return this.flushing;
  }

  /** Drops everything from `position` on and zeroes it (shrink, then regrow sparse). */
  truncateTo(position: number): void {
    fs.ftruncateSync(this.fd, position);
    fs.ftruncateSync(this.fd, this.fileSize);
    this.wrotePosition = position;
    this.flushedPosition = Math.min(this.flushedPosition, position);
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  destroy(): void {
    this.close();
    fs.rmSync(this.fileName, { force: true });
  }
}

/** A new file's name is durable only once its directory is synced. */
export function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is still synced.
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
