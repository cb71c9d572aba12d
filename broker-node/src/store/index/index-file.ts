/**
 * One index file (RocketMQ's IndexFile): a hash table on disk from key hashes to CommitLog
 * offsets, under {storeDir}/index/, named by the 20-digit CommitLog offset of the first
 * record indexed in it. Big-endian, as the rest of the store.
 *
 *   IndexHeader (40 bytes)
 *    0  8  beginTimestamp   store time (ms) of the first entry; entries keep their time relative to it
 *    8  8  endTimestamp     store time (ms) of the newest entry
 *   16  8  beginPhyOffset   CommitLog offset of the first record indexed here
 *   24  8  endPhyOffset     CommitLog offset up to which the whole index was complete when this
 *                           header was written: what recovery replays from (RocketMQ keeps the
 *                           last record's start); for a sealed file, the end of its last record
 *   32  4  hashSlotCount    slots in the table (RocketMQ counts the used ones and takes the
 *                           table size from its config; stored here, a file stays readable
 *                           after the config changes)
 *   36  4  indexCount       next entry number; starts at 1, because 0 means "none"
 *
 *   hash slot table at 40: hashSlotCount x 4 bytes
 *     slot[abs(hash) % hashSlotCount] = number of the newest entry with that slot, 0 = empty
 *
 *   index entries at 40 + hashSlotCount * 4: entry n at + n * 20 (entry 0 is never written)
 *    0  4  keyHash     abs(javaHashCode(key))
 *    4  8  phyOffset   the record's CommitLog offset
 *   12  4  timeDiff    storeTimestamp - beginTimestamp in ms, signed; the file rolls before
 *                      it would overflow (~24.8 days; RocketMQ keeps seconds and loses precision)
 *   16  4  prevIndex   the slot's previous entry: each slot is a chain, newest first
 *
 * Memory does not grow with the log: a sealed file is read with positioned fs reads; only the
 * file being written keeps its slot table in memory (hashSlotCount x 4 bytes), so an append
 * costs no read. Its entries are staged and written with one write per STAGED_ENTRIES (or
 * before a lookup or a persist); the slot table (index-slot-table.ts) reaches the disk by
 * dirty pages at persist time (IndexService), then the header.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readInt64, setInt64, writeInt64 } from '@cirrusmq/client/protocol';
import { offsetToFileName } from '../mapped-file';
import { HASH_SLOT_SIZE, SlotTable, writeFully, writeSnapshotAsync, writeSnapshotSync, type IndexSnapshot } from './index-slot-table';

export { HASH_SLOT_SIZE, type IndexSnapshot } from './index-slot-table';

export const INDEX_HEADER_SIZE = 40;
export const INDEX_ENTRY_SIZE = 20;
export const IndexHeaderField = {
  BEGIN_TIMESTAMP: 0,
  END_TIMESTAMP: 8,
  BEGIN_PHY_OFFSET: 16,
  END_PHY_OFFSET: 24,
  HASH_SLOT_COUNT: 32,
  INDEX_COUNT: 36,
} as const;
export const IndexEntryField = { KEY_HASH: 0, PHY_OFFSET: 4, TIME_DIFF: 12, PREV_INDEX: 16 } as const;

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
/** A walk of one slot's chain stops after this many entries, whatever the file holds. */
export const MAX_CHAIN_STEPS = 100_000;

export function indexFileSize(hashSlotCount: number, indexNum: number): number {
  return INDEX_HEADER_SIZE + hashSlotCount * HASH_SLOT_SIZE + indexNum * INDEX_ENTRY_SIZE;
}

/**
 * Java's String.hashCode of `prefix + s`, given the hash of `prefix`: the dispatcher hashes
 * "{topic}#{key}" without building the string (one allocation less per key per message).
 */
export function continueJavaHash(prefixHash: number, s: string): number {
  let h = prefixHash;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** RocketMQ's indexKeyHashMethod: Java's hashCode, made non-negative. */
export function indexKeyHash(keyJavaHash: number): number {
  const h = Math.abs(keyJavaHash);
  return h < 0 || h > INT32_MAX ? 0 : h;
}

export interface IndexHeader {
  beginTimestamp: number;
  endTimestamp: number;
  beginPhyOffset: number;
  endPhyOffset: number;
  hashSlotCount: number;
  indexCount: number;
}

export class IndexFile {
  readonly header: IndexHeader;
  /** Entries the file holds, entry 0 included (never written). */
  readonly indexNum: number;
  private fd: number;
  /** The slot table, while this file is written. */
  private slots: SlotTable | undefined;
  /** Entries appended since the last writeStaged, and the number of the first of them. */
  private staging: Buffer = Buffer.allocUnsafe(0);
  private stagingView = new DataView(new ArrayBuffer(0));
  private stagedCount = 0;
  private stagedFirst = 0;
  /** The header changed since the last persist (entries, progress). */
  private headerDirty = false;
  private sealed = false;
  private readonly entry = Buffer.allocUnsafe(INDEX_ENTRY_SIZE);
  private readonly slot = Buffer.allocUnsafe(HASH_SLOT_SIZE);

  private constructor(
    readonly fileName: string,
    header: IndexHeader,
    indexNum: number,
    fd: number,
  ) {
    this.header = header;
    this.indexNum = indexNum;
    this.fd = fd;
  }

  /**
   * A new, empty file for records from `beginPhyOffset` on; its header is written at once.
   * `progressPhyOffset` is the progress already on disk: not `beginPhyOffset`, because the
   * file before may still wait for its last persist, and a crash then must replay it.
   */
  static create(
    dir: string,
    beginPhyOffset: number,
    beginTimestamp: number,
    hashSlotCount: number,
    indexNum: number,
    progressPhyOffset = beginPhyOffset,
  ): IndexFile {
    const fileName = path.join(dir, offsetToFileName(beginPhyOffset));
    // A leftover with this name holds entries of a log that no longer exists (a dirty tail).
    fs.rmSync(fileName, { force: true });
    const fd = fs.openSync(fileName, 'wx+');
    try {
      fs.ftruncateSync(fd, indexFileSize(hashSlotCount, indexNum));
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(fileName, { force: true });
      throw e;
    }
    const header: IndexHeader = { beginTimestamp, endTimestamp: beginTimestamp, beginPhyOffset, endPhyOffset: progressPhyOffset, hashSlotCount, indexCount: 1 };
    const file = new IndexFile(fileName, header, indexNum, fd);
    file.writeHeaderSync();
    file.slots = new SlotTable(Buffer.alloc(hashSlotCount * HASH_SLOT_SIZE), INDEX_HEADER_SIZE);
    return file;
  }

  /** An existing file, read-only until `activate`; undefined when its header does not describe its size (torn or foreign). */
  static open(fileName: string): IndexFile | undefined {
    const fd = fs.openSync(fileName, 'r+');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(INDEX_HEADER_SIZE);
      if (size < INDEX_HEADER_SIZE || fs.readSync(fd, buf, 0, INDEX_HEADER_SIZE, 0) !== INDEX_HEADER_SIZE) throw new Error('short header');
      const header: IndexHeader = {
        beginTimestamp: readInt64(buf, IndexHeaderField.BEGIN_TIMESTAMP),
        endTimestamp: readInt64(buf, IndexHeaderField.END_TIMESTAMP),
        beginPhyOffset: readInt64(buf, IndexHeaderField.BEGIN_PHY_OFFSET),
        endPhyOffset: readInt64(buf, IndexHeaderField.END_PHY_OFFSET),
        hashSlotCount: buf.readInt32BE(IndexHeaderField.HASH_SLOT_COUNT),
        indexCount: buf.readInt32BE(IndexHeaderField.INDEX_COUNT),
      };
      const entriesBytes = size - INDEX_HEADER_SIZE - header.hashSlotCount * HASH_SLOT_SIZE;
      const indexNum = entriesBytes / INDEX_ENTRY_SIZE;
      if (header.hashSlotCount <= 0 || !Number.isInteger(indexNum) || indexNum < 2 || header.indexCount < 1 || header.indexCount > indexNum) {
        throw new Error('header does not match the file size');
      }
      const file = new IndexFile(fileName, header, indexNum, fd);
      file.sealed = true;
      return file;
    } catch {
      fs.closeSync(fd);
      return undefined;
    }
  }

  /**
   * Makes a loaded file the one written to: its slot table goes to memory. A persist torn
   * between the slot pages and the header leaves slots naming entries past indexCount;
   * those entries were written before the slots (writeStaged runs first), so indexCount
   * moves past them rather than letting new entries overwrite what the chains point at.
   */
  activate(): void {
    const { table, maxSlot } = SlotTable.read(this.fd, INDEX_HEADER_SIZE, this.header.hashSlotCount, this.indexNum);
    if (maxSlot >= this.header.indexCount) {
      this.header.indexCount = maxSlot + 1;
      this.headerDirty = true;
    }
    this.slots = table;
    this.sealed = this.header.indexCount >= this.indexNum;
  }

  isWritable(): boolean {
    return !this.sealed && this.slots !== undefined;
  }

  /** Entries still free. */
  get remaining(): number {
    return this.indexNum - this.header.indexCount;
  }

  /** Whether `entries` more entries at `storeTimestamp` fit (room, and a time diff inside int32). */
  hasRoomFor(entries: number, storeTimestamp: number): boolean {
    if (!this.isWritable() || this.remaining < entries) return false;
    const diff = storeTimestamp - this.header.beginTimestamp;
    return diff <= INT32_MAX && diff >= INT32_MIN;
  }

  /** Adds one entry; the caller checked hasRoomFor. */
  putKey(keyHash: number, phyOffset: number, storeTimestamp: number): void {
    const slots = this.slots!;
    const h = this.header;
    const slotPos = (keyHash % h.hashSlotCount) * HASH_SLOT_SIZE;
    const prev = slots.get(slotPos);
    const n = h.indexCount;
    if (this.stagedCount === 0) this.stagedFirst = n;
    const at = this.stagedCount * INDEX_ENTRY_SIZE;
    if (at + INDEX_ENTRY_SIZE > this.staging.length) {
      const grown = Buffer.allocUnsafe(Math.max(64 * INDEX_ENTRY_SIZE, this.staging.length * 2));
      this.staging.copy(grown, 0, 0, at);
      this.staging = grown;
      this.stagingView = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    }
    const e = this.stagingView;
    e.setInt32(at + IndexEntryField.KEY_HASH, keyHash);
    setInt64(e, at + IndexEntryField.PHY_OFFSET, phyOffset);
    e.setInt32(at + IndexEntryField.TIME_DIFF, storeTimestamp - h.beginTimestamp);
    e.setInt32(at + IndexEntryField.PREV_INDEX, prev);
    this.stagedCount++;
    slots.set(slotPos, n);
    h.indexCount = n + 1;
    if (storeTimestamp > h.endTimestamp) h.endTimestamp = storeTimestamp;
    this.headerDirty = true;
  }

  /** Records that the log is indexed up to `endPhyOffset` (it may have no entry here). */
  advance(endPhyOffset: number): void {
    if (endPhyOffset > this.header.endPhyOffset) {
      this.header.endPhyOffset = endPhyOffset;
      this.headerDirty = true;
    }
  }

  /**
   * Writes the staged entries with one write, if at least `minEntries` are staged. Staged
   * entries need not reach the file at once: a lookup and a persist write them first, and
   * after a crash only persisted progress counts.
   */
  writeStaged(minEntries = 1): void {
    if (this.stagedCount === 0 || this.stagedCount < minEntries) return;
    writeFully(this.fd, this.staging, this.stagedCount * INDEX_ENTRY_SIZE, this.entryPosition(this.stagedFirst));
    this.stagedCount = 0;
  }

  /** No more entries: the next persist writes what is left and drops the slot table. */
  seal(): void {
    this.writeStaged();
    this.sealed = true;
  }

  needsPersist(): boolean {
    return this.stagedCount > 0 || (this.slots?.isDirty() ?? false) || this.headerDirty || (this.sealed && this.slots !== undefined);
  }

  /** After a failed persist: write the whole table and header next time. */
  markAllDirty(): void {
    this.headerDirty = true;
    this.slots?.markAllDirty();
  }

  /** A copy of the dirty slot pages and the header as they are now; marks them clean. */
  takeSnapshot(): IndexSnapshot {
    this.writeStaged();
    const pages = this.slots ? this.slots.takeDirtyPages() : [];
    this.headerDirty = false;
    return { pages, header: this.encodeHeader(), endPhyOffset: this.header.endPhyOffset };
  }

  /** Writes a snapshot (index-slot-table.ts: pages, fdatasync, header, fdatasync). */
  async writeSnapshot(snap: IndexSnapshot): Promise<void> {
    await writeSnapshotAsync(this.fd, snap);
    // A sealed file's table is all on disk now: reads go there, the memory is freed.
    if (this.sealed && !this.slots?.isDirty() && !this.headerDirty) this.slots = undefined;
  }

  /** The same, synchronously (shutdown). */
  writeSnapshotSync(snap: IndexSnapshot): void {
    writeSnapshotSync(this.fd, snap);
  }

  /**
   * The CommitLog offsets of entries whose key hash is `keyHash` and whose time is in
   * [begin, end], newest first. Walks the slot's chain back; stops at its end, at an entry
   * older than `begin` (chains run newest to oldest), or at a pointer that does not go back.
   */
  *selectPhyOffsets(keyHash: number, begin: number, end: number): Generator<number> {
    const h = this.header;
    if (h.indexCount <= 1 || h.endTimestamp < begin || h.beginTimestamp > end) return;
    this.writeStaged();
    const slotPos = (keyHash % h.hashSlotCount) * HASH_SLOT_SIZE;
    let n = this.slots ? this.slots.get(slotPos) : this.readSlot(slotPos);
    const e = this.entry;
    for (let steps = 0; n > 0 && n < h.indexCount && steps < MAX_CHAIN_STEPS; steps++) {
      if (fs.readSync(this.fd, e, 0, INDEX_ENTRY_SIZE, this.entryPosition(n)) !== INDEX_ENTRY_SIZE) return;
      const time = h.beginTimestamp + e.readInt32BE(IndexEntryField.TIME_DIFF);
      const prev = e.readInt32BE(IndexEntryField.PREV_INDEX);
      if (e.readInt32BE(IndexEntryField.KEY_HASH) === keyHash && time >= begin && time <= end) {
        yield readInt64(e, IndexEntryField.PHY_OFFSET);
      }
      if (time < begin || prev >= n) return;
      n = prev;
    }
  }

  private readSlot(slotPos: number): number {
    if (fs.readSync(this.fd, this.slot, 0, HASH_SLOT_SIZE, INDEX_HEADER_SIZE + slotPos) !== HASH_SLOT_SIZE) return 0;
    return this.slot.readInt32BE(0);
  }

  private entryPosition(n: number): number {
    return INDEX_HEADER_SIZE + this.header.hashSlotCount * HASH_SLOT_SIZE + n * INDEX_ENTRY_SIZE;
  }

  private encodeHeader(): Buffer {
    const h = this.header;
    const buf = Buffer.alloc(INDEX_HEADER_SIZE);
    writeInt64(buf, h.beginTimestamp, IndexHeaderField.BEGIN_TIMESTAMP);
    writeInt64(buf, h.endTimestamp, IndexHeaderField.END_TIMESTAMP);
    writeInt64(buf, h.beginPhyOffset, IndexHeaderField.BEGIN_PHY_OFFSET);
    writeInt64(buf, h.endPhyOffset, IndexHeaderField.END_PHY_OFFSET);
    buf.writeInt32BE(h.hashSlotCount, IndexHeaderField.HASH_SLOT_COUNT);
    buf.writeInt32BE(h.indexCount, IndexHeaderField.INDEX_COUNT);
    return buf;
  }

  private writeHeaderSync(): void {
    writeFully(this.fd, this.encodeHeader(), INDEX_HEADER_SIZE, 0);
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
