import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CirrusError, decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { CleanCommitLogService } from './clean-commit-log-service';
import type { DefaultMessageStore } from './message-store';

const HOUR = 3_600_000;
const fx = useStoreFixture({
  commitLogSegmentBytes: 4096,
  consumeQueueUnitsPerFile: 8,
  flushIntervalMs: 10,
  indexHashSlotNum: 8,
  indexNum: 24,
  fileReservedTimeMs: HOUR,
  cleanIntervalMs: 3_600_000, // the tests run the check themselves
  preallocateSegments: false,
});
const openStore = fx.open;

/** 100 records of ~170 bytes over two queues: 5 segments of 4 KiB. */
async function fill(store: DefaultMessageStore): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await store.putMessages(makeBatch('T', i % 2, [{ body: `m${i}-${'x'.repeat(40)}`, keys: [`k${i}`] }]));
  }
  store.flush();
}

const segments = (store: DefaultMessageStore) => store.commitLog.mappedFileQueue.mappedFiles;
const cqFiles = (queueId: number) => fs.readdirSync(path.join(fx.dir, 'consumequeue', 'T', String(queueId))).filter((n) => /^\d{20}$/.test(n));
const indexFiles = () => fs.readdirSync(path.join(fx.dir, 'index')).filter((n) => /^\d{20}$/.test(n));

/** Makes a segment look last written `ageMs` ago. */
function age(file: { fileName: string }, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(file.fileName, t, t);
}

async function belowMinimum(fn: () => Promise<unknown>): Promise<CirrusError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof CirrusError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('retention (CleanCommitLogService)', () => {
  it('deletes expired segments oldest first, stops at the first one kept, and trims the ConsumeQueues and the index', async () => {
    const store = openStore();
    await fill(store);
    // Sealed index files are deleted only once their last persist is written.
    await store.indexService.persistAsync();
    const segs = [...segments(store)];
    expect(segs.length).toBeGreaterThanOrEqual(4);
    const cqFilesBefore = cqFiles(0).length;
    const indexFilesBefore = indexFiles().length;
    expect(cqFilesBefore).toBeGreaterThan(1);
    expect(indexFilesBefore).toBeGreaterThan(2);

    age(segs[0]!, 2 * HOUR);
    age(segs[1]!, 2 * HOUR);
    age(segs[3]!, 2 * HOUR); // after a kept one: stays, the log must stay contiguous
    const result = store.cleanCommitLogService.run();
    expect(result).toEqual({ deletedSegments: 2, minOffset: segs[2]!.fileFromOffset });
    expect(store.commitLog.getMinOffset()).toBe(segs[2]!.fileFromOffset);
    expect(fs.existsSync(segs[0]!.fileName)).toBe(false);
    expect(fs.existsSync(segs[3]!.fileName)).toBe(true);

    // Each queue's minimum moved to its first unit still in the log, and files wholly below went.
    const min = store.commitLog.getMinOffset();
    for (const q of [0, 1]) {
      const got = await store.getMessage('T', q, (await store.getMessage('T', q, 1_000, 1)).minOffset, 1);
      expect(got.minOffset).toBeGreaterThan(0);
      expect(decodeRecords(got.records)[0]!.commitLogOffset).toBeGreaterThanOrEqual(min);
    }
    expect(cqFiles(0).length).toBeLessThan(cqFilesBefore);
    expect(indexFiles().length).toBeLessThan(indexFilesBefore);

    // The lookups no longer find what was deleted, and still find the rest.
    expect((await store.queryMessage('T', 'k0', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(0);
    expect((await store.queryMessage('T', 'k99', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(1);
  });

  it('answers a read below the minimum with OFFSET_BELOW_MINIMUM carrying the minimum, also after a restart', async () => {
    let store = openStore();
    await fill(store);
    for (const s of segments(store).slice(0, -1)) age(s, 2 * HOUR);
    store.cleanCommitLogService.run();
    const minOffset = (await store.getMessage('T', 0, 1_000, 1)).minOffset;
    expect(minOffset).toBeGreaterThan(0);

    const err = await belowMinimum(() => store.getMessage('T', 0, 0, 10));
    expect(err.code).toBe('OFFSET_BELOW_MINIMUM');
    expect(err.status).toBe(404);
    expect(err.details).toEqual({ minOffset });
    expect(err.message).toContain(`minimum offset ${minOffset}`);
    expect((await belowMinimum(() => store.getMessage('T', 0, minOffset - 1, 10))).details).toEqual({ minOffset });
    expect((await store.getMessage('T', 0, minOffset, 10)).count).toBeGreaterThan(0);

    await fx.closeAll();
    store = openStore();
    expect((await store.getMessage('T', 0, 1_000, 1)).minOffset).toBe(minOffset);
    expect((await belowMinimum(() => store.getMessage('T', 0, 0, 10))).details).toEqual({ minOffset });
  });

  it('never deletes the active segment, even when everything is expired; the queue keeps its max offset', async () => {
    const store = openStore();
    await fill(store);
    const maxBefore = (await store.getMessage('T', 0, 1_000, 1)).maxOffset;
    for (const s of segments(store)) age(s, 10 * HOUR);
    const last = segments(store).at(-1)!;
    store.cleanCommitLogService.run();
    expect(segments(store)).toEqual([last]);
    expect(store.commitLog.getMinOffset()).toBe(last.fileFromOffset);
    expect((await store.getMessage('T', 0, 1_000, 1)).maxOffset).toBe(maxBefore);
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0);
    // New messages keep their queue offsets.
    const put = await store.putMessages(makeBatch('T', 0, ['after']));
    expect(put.queueOffset).toBe(maxBefore);
  });

  it('keeps the log under a disk budget, oldest first', async () => {
    const store = openStore({ diskBudgetBytes: 2 * 4096 });
    await fill(store);
    const n = segments(store).length;
    const result = store.cleanCommitLogService.run();
    expect(result.deletedSegments).toBe(n - 2);
    expect(segments(store)).toHaveLength(2);
  });
});

describe('CleanCommitLogService hooks', () => {
  it('takes an injected clock, and canDelete holds segments back (the seam for tiering to S3)', async () => {
    const store = openStore({ fileReservedTimeMs: 72 * HOUR });
    await fill(store);
    const n = segments(store).length;
    const inFuture = () => Date.now() + 73 * HOUR;
    let allowed = 1;
    const held = new CleanCommitLogService(
      store.commitLog,
      { fileReservedTimeMs: 72 * HOUR, diskBudgetBytes: 0, cleanIntervalMs: 1_000 },
      { now: inFuture, canDelete: () => allowed-- > 0 },
      silentLogger,
    );
    expect(held.run().deletedSegments).toBe(1);
    expect(segments(store)).toHaveLength(n - 1);
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0); // the store's own clock: nothing is 72 h old
    // The store's own service takes the hook too (tiering sets it after the store is built).
    store.cleanCommitLogService.canDelete = () => false;
    for (const s of segments(store)) age(s, 100 * HOUR);
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0);
    const free = new CleanCommitLogService(
      store.commitLog,
      { fileReservedTimeMs: 72 * HOUR, diskBudgetBytes: 0, cleanIntervalMs: 1_000 },
      { now: inFuture },
      silentLogger,
    );
    expect(free.run().deletedSegments).toBe(n - 2);
  });
});
