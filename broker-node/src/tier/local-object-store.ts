/**
 * The ObjectStore in a local folder, for `npm start` and tests: S3's behaviour without AWS.
 * An object is the file `{rootDir}/{keyPrefix}{key}`.
 *
 * Like S3, an object appears whole or not at all: the bytes go to a temp file in the same
 * folder, which is fsynced and then linked to the final name (and the folder fsynced, so
 * the name survives a crash as the data does). Temp files start with '.', which no key
 * segment may (object-store-args.ts), so list() never shows a half-written object.
 *
 * Never replaces an object, as S3's conditional put (If-None-Match: *): link() fails on an
 * existing name where rename() would replace it. Existing identical bytes count as stored
 * (a retry); other bytes are TIER_OBJECT_CONFLICT.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { CirrusError } from '@cirrusmq/client/protocol';
import { checkFileRange, checkKey, checkRange, normalizePrefix } from './object-store-args';
import { crc32InSteps } from './upload-pacer';
import { type FileRangeBody, objectConflict, type ObjectBody, type ObjectStore, type ObjectStoreRequestCounts, type PutObjectResult } from './object-store';

/** Bytes read and written per step when copying a file range: bounded memory, few syscalls. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

export class LocalObjectStore implements ObjectStore {
  readonly requestCounts: ObjectStoreRequestCounts = { put: 0, uploadPart: 0, get: 0, list: 0, delete: 0, errors: 0 };
  readonly location: string;
  private readonly base: string;

  /** `keyPrefix` is the broker's `{cluster}/{brokerName}/`, as S3ObjectStore's. */
  constructor(rootDir: string, keyPrefix: string) {
    const prefix = normalizePrefix(keyPrefix);
    this.base = path.resolve(rootDir, ...prefix.split('/').filter(Boolean));
    this.location = this.base;
  }

  async putObject(key: string, body: ObjectBody): Promise<PutObjectResult> {
    checkKey(key);
    if (!Buffer.isBuffer(body)) await checkFileRange(body);
    this.requestCounts.put++;
    const file = this.fileOf(key);
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.mkdir(dir, { recursive: true });
      const out = await fs.open(tmp, 'wx');
      let result: PutObjectResult;
      try {
        result = Buffer.isBuffer(body) ? await writeBuffer(out, body) : await copyRange(out, body);
        await out.sync();
      } finally {
        await out.close();
      }
      try {
        await fs.link(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const existing = await fileSizeAndCrc(file);
        if (existing.size !== result.size || existing.crc32 !== result.crc32) throw objectConflict(key, this.location, existing, result);
      }
      await fs.rm(tmp, { force: true });
      await syncDirectoryAsync(dir);
      return result;
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw this.fail(e, key, false);
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    checkKey(key);
    checkRange(start, end);
    this.requestCounts.get++;
    try {
      const fh = await fs.open(this.fileOf(key), 'r');
      try {
        const { size } = await fh.stat();
        const len = Math.max(0, Math.min(end, size) - start);
        const buf = Buffer.allocUnsafe(len);
        let done = 0;
        // Positioned reads: concurrent readers of one object never share a file position.
        while (done < len) {
          const { bytesRead } = await fh.read(buf, done, len - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === len ? buf : buf.subarray(0, done);
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw this.fail(e, key, true);
    }
  }

  async getObject(key: string): Promise<Buffer> {
    checkKey(key);
    this.requestCounts.get++;
    try {
      return await fs.readFile(this.fileOf(key));
    } catch (e) {
      throw this.fail(e, key, true);
    }
  }

  async list(keyPrefix: string): Promise<string[]> {
    this.requestCounts.list++;
    // Only the folder the prefix's last '/' names can hold matches: walk from there.
    const slash = keyPrefix.lastIndexOf('/');
    const dirPart = slash < 0 ? '' : keyPrefix.slice(0, slash + 1);
    if (dirPart !== '') checkKey(dirPart.slice(0, -1));
    const keys: string[] = [];
    try {
      await walk(path.join(this.base, ...dirPart.split('/').filter(Boolean)), dirPart, keys);
    } catch (e) {
      throw this.fail(e, keyPrefix, false);
    }
    return keys.filter((k) => k.startsWith(keyPrefix)).sort();
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    keys.forEach(checkKey);
    if (keys.length === 0) return;
    this.requestCounts.delete++;
    try {
      // Empty folders stay: removing them would race a put that just created one.
      await Promise.all(keys.map((k) => unlinkIfFile(this.fileOf(k))));
    } catch (e) {
      throw this.fail(e, keys[0]!, false);
    }
  }

  close(): void {
    // Nothing held open between calls.
  }

  private fileOf(key: string): string {
    return path.join(this.base, ...key.split('/'));
  }

  /**
   * On a read, no file there (ENOENT; EISDIR / ENOTDIR: a folder or a file where the path
   * needs the other) is a missing object; any other I/O failure makes the tier unavailable.
   */
  private fail(e: unknown, key: string, read: boolean): CirrusError {
    this.requestCounts.errors++;
    if (e instanceof CirrusError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (read && (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR'))
      return new CirrusError('TIER_OBJECT_NOT_FOUND', `no object ${key} in ${this.location}`, { cause: e });
    return new CirrusError('TIER_UNAVAILABLE', `local tier ${this.location} failed on ${key}: ${(e as Error).message}`, { cause: e });
  }
}

async function writeBuffer(out: fs.FileHandle, body: Buffer): Promise<PutObjectResult> {
  let done = 0;
  while (done < body.length) done += (await out.write(body, done, body.length - done)).bytesWritten;
  return { size: body.length, crc32: zlib.crc32(body) };
}

/**
 * Copies [start, end) of the source in chunks, the CRC computed on the way: never the whole
 * range in memory. Each chunk waits for the body's pace. The copy is synced once, by the
 * caller, at the end: a sync every 64 MiB (tried, to spread the writeback) made every one a
 * file system journal commit that also flushed the CommitLog's fresh pages, and stalled the
 * sends' writes behind it for up to seconds (bench:tier-seal, ext4).
 */
async function copyRange(out: fs.FileHandle, body: FileRangeBody): Promise<PutObjectResult> {
  const src = await fs.open(body.filePath, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(1, body.end - body.start)));
    let crc = 0;
    for (let pos = body.start; pos < body.end; ) {
      const want = Math.min(buf.length, body.end - pos);
      if (body.pace) await body.pace(want);
      const { bytesRead } = await src.read(buf, 0, want, pos);
      if (bytesRead === 0) throw new CirrusError('INTERNAL', `upload source ${body.filePath} ended at ${pos}, before ${body.end}`);
      const chunk = buf.subarray(0, bytesRead);
      crc = await crc32InSteps(chunk, crc);
      let written = 0;
      while (written < bytesRead) written += (await out.write(chunk, written, bytesRead - written)).bytesWritten;
      pos += bytesRead;
    }
    return { size: body.end - body.start, crc32: crc };
  } finally {
    await src.close();
  }
}

/** Size and CRC32 of a whole file, read in chunks. */
async function fileSizeAndCrc(file: string): Promise<PutObjectResult> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    let crc = 0;
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead === 0) return { size, crc32: crc };
      crc = zlib.crc32(buf.subarray(0, bytesRead), crc);
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/**
 * As store/mapped-file's syncDirectory, off the event loop: a folder's fsync commits the
 * file system's journal, which can wait for other files' data (the CommitLog's) for tens of
 * milliseconds, too long to hold the sends up.
 */
async function syncDirectoryAsync(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is still synced.
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** Deletes the file; no file there (nothing, a folder, a file where a folder would be) is S3's missing key. */
async function unlinkIfFile(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
  }
}

/** Every file under `dir` as a key (`keyBase` + relative path); dot files are temp files. */
async function walk(dir: string, keyBase: string, out: string[]): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw e;
  }
  for (const ent of entries) {
    if (ent.name.startsWith('.')) continue;
    if (ent.isDirectory()) await walk(path.join(dir, ent.name), `${keyBase}${ent.name}/`, out);
    else if (ent.isFile()) out.push(`${keyBase}${ent.name}`);
  }
}
