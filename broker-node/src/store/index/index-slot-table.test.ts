import { describe, expect, it } from 'vitest';
import { HASH_SLOT_SIZE, SlotTable } from './index-slot-table';

const PAGE = 4096;
const SLOTS_PER_PAGE = PAGE / HASH_SLOT_SIZE;

describe('SlotTable dirty pages', () => {
  it('writes runs of dirty pages with short clean gaps as one write, far ones apart, each with the bytes in memory', () => {
    const table = new SlotTable(Buffer.alloc(40 * PAGE), 40);
    const setIn = (page: number, entry: number) => table.set((page * SLOTS_PER_PAGE + 3) * HASH_SLOT_SIZE, entry);
    setIn(0, 1);
    setIn(2, 2); // a gap of 1 clean page: bridged
    setIn(11, 3); // a gap of 8: bridged
    setIn(21, 4); // a gap of 9: a write of its own
    setIn(39, 5);
    const pages = table.takeDirtyPages();
    expect(pages.map((p) => [p.position, p.bytes.length])).toEqual([
      [40, 12 * PAGE],
      [40 + 21 * PAGE, PAGE],
      [40 + 39 * PAGE, PAGE],
    ]);
    for (const p of pages) expect(p.bytes.equals(table.bytes.subarray(p.position - 40, p.position - 40 + p.bytes.length))).toBe(true);
    // Copies: later sets do not change what a persist in flight writes; taken pages are clean.
    setIn(0, 9);
    expect(pages[0]!.bytes.readInt32BE(3 * HASH_SLOT_SIZE)).toBe(1);
    expect(table.takeDirtyPages().map((p) => [p.position, p.bytes.length])).toEqual([[40, PAGE]]);
    expect(table.isDirty()).toBe(false);
  });

  it('a table dirty almost everywhere (a busy round of keys) is one write', () => {
    const table = new SlotTable(Buffer.alloc(1000 * PAGE), 40);
    for (let page = 0; page < 1000; page++) if (page % 20 !== 7) table.set(page * PAGE, page + 1);
    expect(table.takeDirtyPages().map((p) => [p.position, p.bytes.length])).toEqual([[40, 1000 * PAGE]]);
  });
});
