/**
 * The hash slot table of the index file being written (index-file.ts), kept in memory, and
 * its persistence: slots changed since the last persist are tracked by 4 KiB page, and a
 * persist writes those pages, then the header (IndexService orders the persists).
 *
 *   table in memory (big-endian, as on disk)   dirty pages     on disk at 40 + page * 4096
 *   | slot | slot | ... | slot |                 [1,0,0,1,...]  written in runs of adjacent pages
 *
 * A run takes in clean pages between dirty ones when the gap is short (MAX_CLEAN_GAP_PAGES):
 * a clean page holds what the last persist wrote, so writing it again changes nothing on
 * disk, and under load (hash slots: a round's keys dirty ~95% of the pages, scattered) it
 * makes one write of what were hundreds, each a thread-pool round trip that woke a thread
 * (preempting the event loop on a busy machine) and a callback of its own.
 */
import fs from 'node:fs';

export const HASH_SLOT_SIZE = 4;
/** Slot-table pages written at persist time: the unit of "dirty". */
const SLOT_PAGE_BYTES = 4096;
/** Clean pages a run of dirty ones bridges to reach the next dirty page (32 KiB written again instead of a write of its own). */
const MAX_CLEAN_GAP_PAGES = 8;

/** A consistent copy of what a persist writes: dirty slot pages, then the header. */
export interface IndexSnapshot {
  pages: { position: number; bytes: Buffer }[];
  header: Buffer;
  endPhyOffset: number;
}

export class SlotTable {
  readonly bytes: Buffer;
  /** DataView over `bytes`: V8 inlines its big-endian reads and writes (Buffer's carry bounds checks in JS). */
  private readonly view: DataView;
  private readonly dirtyPages: Uint8Array;
  private dirtyCount = 0;

  constructor(
    bytes: Buffer,
    /** Where the table starts in the file. */
    private readonly filePosition: number,
  ) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dirtyPages = new Uint8Array(Math.ceil(bytes.length / SLOT_PAGE_BYTES));
  }

  /**
   * Reads a table of `slotCount` slots from `fd`. Slots outside [0, indexNum) are garbage
   * (dropped: their chains end there); returns the table and the highest entry number a
   * slot names.
   */
  static read(fd: number, filePosition: number, slotCount: number, indexNum: number): { table: SlotTable; maxSlot: number } {
    const bytes = Buffer.alloc(slotCount * HASH_SLOT_SIZE);
    const n = fs.readSync(fd, bytes, 0, bytes.length, filePosition);
    if (n !== bytes.length) bytes.fill(0, n);
    const table = new SlotTable(bytes, filePosition);
    // Through the DataView: Buffer.readInt32BE made this loop ~3x slower (recovery reads every slot).
    const view = table.view;
    let maxSlot = 0;
    for (let p = 0; p < bytes.length; p += HASH_SLOT_SIZE) {
      const v = view.getInt32(p);
      if (v < 0 || v >= indexNum) view.setInt32(p, 0);
      else if (v > maxSlot) maxSlot = v;
    }
    return { table, maxSlot };
  }

  get(slotPos: number): number {
    return this.view.getInt32(slotPos);
  }

  set(slotPos: number, entry: number): void {
    this.view.setInt32(slotPos, entry);
    const page = (slotPos / SLOT_PAGE_BYTES) | 0;
    if (this.dirtyPages[page] === 0) {
      this.dirtyPages[page] = 1;
      this.dirtyCount++;
    }
  }

  isDirty(): boolean {
    return this.dirtyCount > 0;
  }

  /** After a failed persist: the whole table goes next time. */
  markAllDirty(): void {
    this.dirtyPages.fill(1);
    this.dirtyCount = this.dirtyPages.length;
  }

  /** Copies of the dirty pages (runs of them, short clean gaps included, as one write: under load most are dirty); marks them clean. */
  takeDirtyPages(): IndexSnapshot['pages'] {
    const pages: IndexSnapshot['pages'] = [];
    const dirty = this.dirtyPages;
    if (this.dirtyCount === 0) return pages;
    for (let page = 0; page < dirty.length; page++) {
      if (dirty[page] === 0) continue;
      let last = page;
      for (let next = page + 1; next < dirty.length && next - last <= MAX_CLEAN_GAP_PAGES + 1; next++) if (dirty[next] !== 0) last = next;
      dirty.fill(0, page, last + 1);
      const start = page * SLOT_PAGE_BYTES;
      const end = Math.min(this.bytes.length, (last + 1) * SLOT_PAGE_BYTES);
      pages.push({ position: this.filePosition + start, bytes: Buffer.from(this.bytes.subarray(start, end)) });
      page = last;
    }
    this.dirtyCount = 0;
    return pages;
  }
}

/**
 * Writes a snapshot: entries are already written, then the slot pages, fdatasync, then the
 * header, fdatasync, so a header on disk never counts entries its slots do not reach.
 */
export async function writeSnapshotAsync(fd: number, snap: IndexSnapshot): Promise<void> {
  for (const p of snap.pages) await writeFullyAsync(fd, p.bytes, p.bytes.length, p.position);
  if (snap.pages.length > 0) await fdatasyncAsync(fd);
  await writeFullyAsync(fd, snap.header, snap.header.length, 0);
  await fdatasyncAsync(fd);
}

/** The same, synchronously (shutdown). */
export function writeSnapshotSync(fd: number, snap: IndexSnapshot): void {
  for (const p of snap.pages) writeFully(fd, p.bytes, p.bytes.length, p.position);
  if (snap.pages.length > 0) fs.fdatasyncSync(fd);
  writeFully(fd, snap.header, snap.header.length, 0);
  fs.fdatasyncSync(fd);
}

export function writeFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) done += fs.writeSync(fd, buf, done, length - done, position + done);
}

function writeFullyAsync(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number) => {
      if (done >= length) return resolve();
      fs.write(fd, buf, done, length - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
