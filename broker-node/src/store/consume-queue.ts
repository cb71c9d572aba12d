/**
 * A ConsumeQueue: the index of one topic-queue into the CommitLog, under
 * {storeDir}/consumequeue/{topic}/{queueId}/, in files of unitsPerFile units named by their
 * 20-digit start byte offset. Unit i (the message at queue offset i) is at byte i * 20:
 *
 *  offset size field              (big-endian)
 *   0     8   commitLogOffset     where the record starts in the CommitLog
 *   8     4   size                the record's TOTALSIZE; 0 = never written
 *  12     8   tagsCode            tagsHashCode(TAGS), sign-extended to 64 bits
 *
 * Every unit can be rebuilt from the CommitLog (dispatcher.ts), so this is an index, not data.
 *
 * Write-behind: appended units collect in a small buffer (PENDING_BYTES) and reach the file
 * with one write when it fills, and before the queue is synced, truncated or trimmed. Reads
 * (the offsets, getIndexBuffer, readUnit) see the pending units from the buffer, exactly as a
 * direct write would show them: a consumer's read of the newest message then costs no write
 * and no pread (at a low rate that was two syscalls per receive). A send batch is 32 units
 * (640 bytes); one write per unit run cost ~0.14 µs a message here. After a crash, units that were only pending are rebuilt by the
 * replay: the checkpoint's ConsumeQueue progress is taken before the flush round writes
 * them (StoreFlushRound.run, store-flush-round.ts).
 */
import path from 'node:path';
import { readInt64, writeInt64 } from '@cirrusmq/client/protocol';
import { MappedFileQueue } from './mapped-file-queue';

export const CQ_STORE_UNIT_SIZE = 20;
export const CqUnit = { OFFSET: 0, SIZE: 8, TAGS_CODE: 12 } as const;

/** Write-behind buffer per queue (allocated while units are pending, dropped at each sync). */
const PENDING_BYTES = 16 * 1024;

/** Units read per step when scanning a file for its end. */
const SCAN_UNITS = 4 * 1024;

export function writeCqUnit(buf: Buffer, pos: number, commitLogOffset: number, size: number, tagsCode: number): void {
  writeInt64(buf, commitLogOffset, pos + CqUnit.OFFSET);
  buf.writeInt32BE(size, pos + CqUnit.SIZE);
  writeInt64(buf, tagsCode, pos + CqUnit.TAGS_CODE);
}

export interface CqUnitView {
  commitLogOffset: number;
  size: number;
  tagsCode: number;
}

export function readCqUnit(buf: Buffer, pos: number): CqUnitView {
  return {
    commitLogOffset: readInt64(buf, pos + CqUnit.OFFSET),
    size: buf.readInt32BE(pos + CqUnit.SIZE),
    tagsCode: readInt64(buf, pos + CqUnit.TAGS_CODE),
  };
}

/** What an append of units did: written, or skipped (already there), or refused (a hole). */
export type PutUnitsResult = { status: 'OK'; written: number; duplicates: number } | { status: 'GAP'; expected: number };

export class ConsumeQueue {
  readonly mappedFileQueue: MappedFileQueue;
  private readonly unit = Buffer.alloc(CQ_STORE_UNIT_SIZE);
  /**
   * Byte offset of the first unit whose record is still in the CommitLog (RocketMQ's
   * minLogicOffset). Retention deletes whole files, so units below this may still sit in
   * the first file; reads below it are refused.
   */
  private minLogicOffset = 0;
  /** Units appended and not yet written (see the top): pendingUnits of them in `pending`. */
  private pending: Buffer | undefined;
  private pendingUnits = 0;

  constructor(
    readonly topic: string,
    readonly queueId: number,
    rootDir: string,
    readonly unitsPerFile: number,
  ) {
    this.mappedFileQueue = new MappedFileQueue(path.join(rootDir, topic, String(queueId)), unitsPerFile * CQ_STORE_UNIT_SIZE);
  }

  load(): void {
    this.mappedFileQueue.load();
  }

  /**
   * Finds the last written unit (non-zero size) in the last file, or the one before it if
   * the last is empty. `durableOffset` (the checkpoint's ConsumeQueue progress) makes it
   * fast: units of records before it were synced, so they form an unbroken non-zero prefix
   * that a binary search skips; only the units after it are scanned one by one (where a
   * crash can leave a hole, the scan must stop at the first one).
   */
  recover(durableOffset = 0): void {
    this.writePending();
    const files = this.mappedFileQueue.mappedFiles;
    if (files.length === 0) return;
    let idx = files.length - 1;
    let end = this.scanFileEnd(idx, durableOffset);
    if (end === 0 && idx > 0) {
      idx--;
      end = this.scanFileEnd(idx, durableOffset);
    }
    this.mappedFileQueue.truncateDirtyFiles(files[idx]!.fileFromOffset + end);
  }

  /** Byte position after the last unit of a run of non-zero units from the file's start. */
  private scanFileEnd(idx: number, durableOffset: number): number {
    const file = this.mappedFileQueue.mappedFiles[idx]!;
    const limit = file.fileSize - (file.fileSize % CQ_STORE_UNIT_SIZE);
    // Binary search: the first unit that is not a synced one (zero, or its record ends past durableOffset).
    let lo = 0;
    let hi = limit / CQ_STORE_UNIT_SIZE;
    while (lo < hi && durableOffset > 0) {
      const mid = (lo + hi) >>> 1;
      const n = file.readInto(mid * CQ_STORE_UNIT_SIZE, this.unit, 0, CQ_STORE_UNIT_SIZE);
      const u = n === CQ_STORE_UNIT_SIZE ? readCqUnit(this.unit, 0) : undefined;
      if (u && u.size > 0 && u.commitLogOffset + u.size <= durableOffset) lo = mid + 1;
      else hi = mid;
    }
    const chunk = Buffer.allocUnsafe(Math.min(SCAN_UNITS * CQ_STORE_UNIT_SIZE, file.fileSize));
    let pos = lo * CQ_STORE_UNIT_SIZE;
    while (pos < limit) {
      const n = file.readInto(pos, chunk, 0, Math.min(chunk.length, limit - pos));
      for (let p = 0; p + CQ_STORE_UNIT_SIZE <= n; p += CQ_STORE_UNIT_SIZE) {
        if (chunk.readInt32BE(p + CqUnit.SIZE) <= 0) return pos + p;
      }
      if (n < chunk.length) return pos + n - (n % CQ_STORE_UNIT_SIZE);
      pos += n;
    }
    return limit;
  }

  /**
   * Drops units whose record ends past `commitLogMaxOffset` (the CommitLog lost its tail).
   * Units point at increasing CommitLog offsets, so a binary search finds the first bad one.
   */
  truncateDirtyLogicFiles(commitLogMaxOffset: number): void {
    this.writePending();
    let lo = this.getMinOffsetInQueue();
    let hi = this.getMaxOffsetInQueue();
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const u = this.readUnit(mid);
      if (u && u.size > 0 && u.commitLogOffset + u.size <= commitLogMaxOffset) lo = mid + 1;
      else hi = mid;
    }
    if (lo < this.getMaxOffsetInQueue()) this.mappedFileQueue.truncateDirtyFiles(lo * CQ_STORE_UNIT_SIZE);
  }

  /** Queue offset (in units) of the first unit kept whose record is still in the CommitLog. */
  getMinOffsetInQueue(): number {
    // Pending units need no write here: with no file yet, the first write creates it at 0, where fileMin already says.
    const fileMin = this.mappedFileQueue.getMinOffset() / CQ_STORE_UNIT_SIZE;
    return Math.min(Math.max(fileMin, this.minLogicOffset / CQ_STORE_UNIT_SIZE), this.getMaxOffsetInQueue());
  }

  /**
   * Moves the minimum past units whose record starts below `minCommitLogOffset` (the
   * CommitLog's first offset after retention). Units point at increasing CommitLog offsets,
   * so a binary search over the kept units finds the first one still in the log.
   */
  correctMinOffset(minCommitLogOffset: number): void {
    this.writePending();
    let lo = Math.max(this.mappedFileQueue.getMinOffset(), this.minLogicOffset) / CQ_STORE_UNIT_SIZE;
    let hi = this.getMaxOffsetInQueue();
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const u = this.readUnit(mid);
      if (u && u.commitLogOffset < minCommitLogOffset) lo = mid + 1;
      else hi = mid;
    }
    this.minLogicOffset = Math.max(this.minLogicOffset, lo * CQ_STORE_UNIT_SIZE);
  }

  /**
   * Retention: deletes files whose last unit's record lies wholly below
   * `minCommitLogOffset`, oldest first, never the last file (it keeps the queue's max
   * offset), then corrects the minimum. Returns how many files went.
   */
  deleteExpiredFile(minCommitLogOffset: number): number {
    this.writePending();
    const files = this.mappedFileQueue.mappedFiles;
    let n = 0;
    while (n < files.length - 1) {
      const f = files[n]!;
      const last = f.read(f.fileSize - CQ_STORE_UNIT_SIZE, CQ_STORE_UNIT_SIZE);
      if (last.length !== CQ_STORE_UNIT_SIZE) break;
      const u = readCqUnit(last, 0);
      if (u.size <= 0 || u.commitLogOffset + u.size > minCommitLogOffset) break;
      n++;
    }
    const deleted = this.mappedFileQueue.deleteFirstFiles(n);
    this.correctMinOffset(minCommitLogOffset);
    return deleted;
  }

  /** The next queue offset: one past the last unit. */
  getMaxOffsetInQueue(): number {
    return this.writtenMaxOffset() + this.pendingUnits;
  }

  private writtenMaxOffset(): number {
    return Math.floor(this.mappedFileQueue.getMaxOffset() / CQ_STORE_UNIT_SIZE);
  }

  /** Where the last unit's record ends in the CommitLog (0 when empty): the reput starts past it. */
  getMaxPhysicOffset(): number {
    const max = this.getMaxOffsetInQueue();
    // Against the files, not the retention minimum: a queue whose records all expired still ends somewhere.
    if (max <= this.mappedFileQueue.getMinOffset() / CQ_STORE_UNIT_SIZE) return 0;
    const u = this.readUnit(max - 1);
    return u ? u.commitLogOffset + u.size : 0;
  }

  readUnit(index: number): CqUnitView | undefined {
    const buf = this.getIndexBuffer(index, 1);
    return buf && buf.length === CQ_STORE_UNIT_SIZE ? readCqUnit(buf, 0) : undefined;
  }

  /** Appends one unit at queue offset `cqOffset`; see putMessagePositionInfos. */
  putMessagePositionInfo(commitLogOffset: number, size: number, tagsCode: number, cqOffset: number): PutUnitsResult {
    writeCqUnit(this.unit, 0, commitLogOffset, size, tagsCode);
    return this.putMessagePositionInfos(this.unit, 0, 1, cqOffset);
  }

  /**
   * Appends `count` ready units from `units[start...]`, the first at queue offset `cqOffset`.
   * Units already present (cqOffset below the next index: a reput over indexed records)
   * are skipped; a unit past the next index would leave a hole, so it is refused.
   */
  putMessagePositionInfos(units: Buffer, start: number, count: number, cqOffset: number): PutUnitsResult {
    const next = this.writtenMaxOffset() + this.pendingUnits;
    if (cqOffset > next) return { status: 'GAP', expected: next };
    const duplicates = Math.min(count, next - cqOffset);
    const from = start + duplicates * CQ_STORE_UNIT_SIZE;
    const bytes = (count - duplicates) * CQ_STORE_UNIT_SIZE;
    if (bytes > 0) {
      const used = this.pendingUnits * CQ_STORE_UNIT_SIZE;
      if (used + bytes > PENDING_BYTES) this.writePending();
      if (bytes > PENDING_BYTES) {
        this.writeUnits(units, from, bytes);
      } else {
        this.pending ??= Buffer.allocUnsafe(PENDING_BYTES);
        units.copy(this.pending, this.pendingUnits * CQ_STORE_UNIT_SIZE, from, from + bytes);
        this.pendingUnits += bytes / CQ_STORE_UNIT_SIZE;
      }
    }
    return { status: 'OK', written: count - duplicates, duplicates };
  }

  /** Writes the pending units to the file(s). */
  private writePending(): void {
    if (this.pendingUnits === 0) return;
    const n = this.pendingUnits;
    this.pendingUnits = 0;
    this.writeUnits(this.pending!, 0, n * CQ_STORE_UNIT_SIZE);
  }

  private writeUnits(units: Buffer, start: number, bytes: number): void {
    let pos = start;
    let left = bytes;
    while (left > 0) {
      const file = this.mappedFileQueue.getLastMappedFileOrCreate(0);
      const usable = file.remaining - (file.remaining % CQ_STORE_UNIT_SIZE);
      if (usable === 0) {
        file.seal();
        continue;
      }
      const n = Math.min(left, usable);
      file.appendSync(units, n, pos);
      if (file.remaining < CQ_STORE_UNIT_SIZE) file.seal();
      pos += n;
      left -= n;
    }
  }

  /**
   * Up to `maxUnits` units from queue offset `startIndex`, all from one file or all pending
   * (the caller loops to cross into the next); undefined when `startIndex` is not stored.
   */
  getIndexBuffer(startIndex: number, maxUnits: number): Buffer | undefined {
    const written = this.writtenMaxOffset();
    if (startIndex >= written) {
      const n = Math.min(maxUnits, this.pendingUnits - (startIndex - written));
      if (n <= 0) return undefined;
      const from = (startIndex - written) * CQ_STORE_UNIT_SIZE;
      // A copy: the buffer takes the next units once these are written.
      return Buffer.from(this.pending!.subarray(from, from + n * CQ_STORE_UNIT_SIZE));
    }
    const byteOffset = startIndex * CQ_STORE_UNIT_SIZE;
    const file = this.mappedFileQueue.findMappedFileByOffset(byteOffset);
    if (!file) return undefined;
    const position = byteOffset - file.fileFromOffset;
    const available = Math.floor((file.wrotePosition - position) / CQ_STORE_UNIT_SIZE);
    const n = Math.min(maxUnits, available);
    if (n <= 0) return undefined;
    return file.read(position, n * CQ_STORE_UNIT_SIZE);
  }

  /** Writes the pending units and drops the buffer (an idle queue holds none). */
  private writeAndReleasePending(): void {
    this.writePending();
    this.pending = undefined;
  }

  flush(): void {
    this.writeAndReleasePending();
    this.mappedFileQueue.flush();
  }

  flushAsync(): Promise<void> {
    this.writeAndReleasePending();
    return this.mappedFileQueue.flushAsync();
  }

  shutdown(): void {
    this.writeAndReleasePending();
    this.mappedFileQueue.shutdown();
  }

  /**
   * A deleted topic's queue, its folder moved away: pending units are dropped (never
   * written), a flush round's fdatasync in flight on the files finishes, then they close.
   */
  async closeDeleted(): Promise<void> {
    this.pendingUnits = 0;
    this.pending = undefined;
    await this.mappedFileQueue.flushAsync().catch(() => {});
    this.mappedFileQueue.shutdown();
  }

  destroy(): void {
    this.pendingUnits = 0;
    this.pending = undefined;
    this.mappedFileQueue.destroy();
  }
}
