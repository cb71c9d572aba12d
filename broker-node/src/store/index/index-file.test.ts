import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../testing/store-fixture';
import { INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE, IndexFile, indexFileSize, indexKeyHash } from './index-file';

const fx = useTempDir('cirrusmq-index-');

const T0 = 1_700_000_000_000;
function create(slots = 4, entries = 10, begin = 0): IndexFile {
  const f = IndexFile.create(fx.dir, begin, T0, slots, entries);
  fx.onCleanup(() => f.close());
  return f;
}
function open(f: IndexFile): IndexFile {
  const g = IndexFile.open(f.fileName);
  if (!g) throw new Error('did not open');
  fx.onCleanup(() => g.close());
  return g;
}
const select = (f: IndexFile, hash: number, begin = 0, end = Number.MAX_SAFE_INTEGER) => [...f.selectPhyOffsets(hash, begin, end)];

describe('IndexFile', () => {
  it('has the layout of its comment: 40-byte header, 4-byte slots, 20-byte entries, named by its first offset', () => {
    const f = create(4, 10, 4096);
    expect(path.basename(f.fileName)).toBe('00000000000000004096');
    expect(fs.statSync(f.fileName).size).toBe(indexFileSize(4, 10));
    expect(indexFileSize(4, 10)).toBe(INDEX_HEADER_SIZE + 4 * 4 + 10 * INDEX_ENTRY_SIZE);
    expect(f.header).toMatchObject({ beginPhyOffset: 4096, endPhyOffset: 4096, hashSlotCount: 4, indexCount: 1, beginTimestamp: T0 });
    expect(indexKeyHash(-5)).toBe(5);
    expect(indexKeyHash(-0x80000000)).toBe(0);
  });

  it('chains entries per slot, newest first, and keeps hashes that share a slot apart', () => {
    const f = create(4, 10);
    // 1, 5 and 9 all land in slot 1; 2 in slot 2.
    f.putKey(1, 100, T0);
    f.putKey(5, 200, T0 + 1);
    f.putKey(2, 300, T0 + 2);
    f.putKey(1, 400, T0 + 3);
    f.putKey(9, 500, T0 + 4);
    f.writeStaged();
    expect(select(f, 1)).toEqual([400, 100]);
    expect(select(f, 5)).toEqual([200]);
    expect(select(f, 9)).toEqual([500]);
    expect(select(f, 2)).toEqual([300]);
    expect(select(f, 13)).toEqual([]);
    expect(f.header).toMatchObject({ indexCount: 6, endTimestamp: T0 + 4 });
  });

  it('selects by time range and stops walking at entries older than the range', () => {
    const f = create(4, 10);
    for (let i = 0; i < 5; i++) f.putKey(7, 1000 + i, T0 + i * 100);
    expect(select(f, 7, T0 + 150, T0 + 350)).toEqual([1003, 1002]);
    expect(select(f, 7, T0 + 400)).toEqual([1004]);
    expect(select(f, 7, 0, T0 - 1)).toEqual([]);
    expect(select(f, 7, T0 + 401)).toEqual([]);
  });

  it('fills up: no room past indexNum - 1 entries, nor past an int32 of milliseconds', () => {
    const f = create(4, 4);
    expect(f.hasRoomFor(3, T0)).toBe(true);
    expect(f.hasRoomFor(4, T0)).toBe(false); // entry 0 is never used
    for (let i = 0; i < 3; i++) f.putKey(i, i, T0);
    expect(f.hasRoomFor(1, T0)).toBe(false);
    const g = create(4, 10, 8192);
    expect(g.hasRoomFor(1, T0 + 0x7fffffff)).toBe(true);
    expect(g.hasRoomFor(1, T0 + 0x80000000)).toBe(false);
    expect(g.hasRoomFor(1, T0 - 0x80000000)).toBe(true);
  });

  it('persists slots and header; reopened it serves from disk, then takes more entries', async () => {
    const f = create(8, 32);
    for (let i = 0; i < 10; i++) f.putKey(i % 3, i * 10, T0 + i);
    f.advance(999);
    expect(f.needsPersist()).toBe(true);
    await f.writeSnapshot(f.takeSnapshot());
    expect(f.needsPersist()).toBe(false);
    f.close();

    const g = open(f);
    expect(g.isWritable()).toBe(false);
    expect(g.header).toMatchObject({ indexCount: 11, endPhyOffset: 999, hashSlotCount: 8, endTimestamp: T0 + 9 });
    expect(g.indexNum).toBe(32);
    expect(select(g, 0)).toEqual([90, 60, 30, 0]);
    g.activate();
    expect(g.isWritable()).toBe(true);
    g.putKey(0, 5000, T0 + 50);
    expect(select(g, 0)).toEqual([5000, 90, 60, 30, 0]);
  });

  it('after a persist torn between the slot pages and the header, new entries do not overwrite what slots point at', async () => {
    const f = create(8, 32);
    f.putKey(3, 30, T0);
    await f.writeSnapshot(f.takeSnapshot()); // header: indexCount 2
    f.putKey(3, 31, T0 + 1);
    f.putKey(3, 32, T0 + 2);
    // The crash came after the slot pages, before the header.
    f.writeSnapshotSync({ ...f.takeSnapshot(), header: Buffer.alloc(0) });
    f.close();

    const g = open(f);
    expect(g.header.indexCount).toBe(2);
    g.activate();
    expect(g.header.indexCount).toBe(4);
    g.putKey(3, 33, T0 + 3);
    expect(select(g, 3)).toEqual([33, 32, 31, 30]);
  });

  it('refuses a file whose header does not describe its size', () => {
    const f = create(4, 10);
    f.close();
    fs.truncateSync(f.fileName, indexFileSize(4, 10) - 7);
    expect(IndexFile.open(f.fileName)).toBeUndefined();
    fs.writeFileSync(path.join(fx.dir, '00000000000000000001'), Buffer.alloc(10));
    expect(IndexFile.open(path.join(fx.dir, '00000000000000000001'))).toBeUndefined();
  });
});
