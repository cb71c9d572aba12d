import { describe, expect, it } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import { ControlledSync, ManualClock } from '../testing/controlled-sync';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { GroupCommitService, type GroupCommitTarget } from './group-commit-service';
import type { DefaultMessageStore } from './message-store';
import type { MessageStoreConfig } from './message-store-types';
import { StoreStatsService } from './store-stats-service';

/**
 * syncFlushTimeoutMs is measured on this clock, which moves only when a test advances it: a
 * real fdatasync slowed by a loaded machine can never turn a PUT_OK into FLUSH_DISK_TIMEOUT,
 * and the timeout test decides when its deadline passes.
 */
const clock = new ManualClock();
const frozen = () => 0;

const fx = useStoreFixture({
  commitLogSegmentBytes: 1 << 20,
  consumeQueueUnitsPerFile: 1000,
  // No timer rounds during a test: only the group commit syncs (the checkpoint would count too).
  flushIntervalMs: 60_000,
  flushDiskType: 'SYNC_FLUSH',
  syncFlushTimeoutMs: 5_000,
  syncFlushClock: clock.now,
});

function openSyncStore(sync: ControlledSync, overrides: Partial<MessageStoreConfig> = {}): DefaultMessageStore {
  return fx.open({ dataSync: sync.fn, ...overrides });
}

describe('GroupCommitService (SYNC_FLUSH)', () => {
  it('answers each put only once an fdatasync covers it', async () => {
    const sync = new ControlledSync();
    const store = openSyncStore(sync);
    const put = await store.putMessages(makeBatch('TopicA', 0, ['a', 'b']));
    expect(put).toMatchObject({ status: 'PUT_OK', queueOffset: 0, count: 2 });
    expect(sync.calls).toBe(1);
    expect(store.stats().commitLogFlushedOffset).toBe(store.stats().commitLogMaxOffset);
    expect(store.stats().flushTotal).toBe(1);
  });

  it('lets the puts written during an fdatasync share the next one', async () => {
    const sync = new ControlledSync();
    const store = openSyncStore(sync);
    sync.hold();
    // The first sync starts after this turn of the event loop (it covers the ten puts written
    // in it); the five written while it runs, in a later turn, wait together for the next.
    const first = store.putMessages(makeBatch('TopicA', 0, ['first']));
    const during = Array.from({ length: 9 }, (_, i) => store.putMessages(makeBatch('TopicA', i % 4, [`m${i}`])));
    await sync.whenCalls(1); // the first sync has begun (held): what is written now is the next group
    during.push(...Array.from({ length: 5 }, (_, i) => store.putMessages(makeBatch('TopicB', 0, [`n${i}`]))));
    expect(sync.calls).toBe(1);
    sync.release();
    const results = await Promise.all([first, ...during]);
    expect(results.every((r) => r.status === 'PUT_OK')).toBe(true);
    expect(sync.calls).toBe(2); // fifteen puts, two fdatasyncs
    expect(store.stats().commitLogFlushedOffset).toBe(store.stats().commitLogMaxOffset);
    // Fifty puts issued at once: one sync for all of them.
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => store.putMessages(makeBatch('TopicC', 0, [`x${i}`]))));
    expect(many.map((r) => r.queueOffset)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(sync.calls).toBe(3);
  });

  it('answers FLUSH_DISK_TIMEOUT when the fdatasync misses syncFlushTimeoutMs; the data is stored', async () => {
    const sync = new ControlledSync();
    const store = openSyncStore(sync, { syncFlushTimeoutMs: 50 });
    sync.hold(); // the disk does not answer until released
    let answered = false;
    const put = store.putMessages(makeBatch('TopicA', 0, ['slow'])).finally(() => (answered = true));
    await sync.whenCalls(1);
    expect(answered).toBe(false);
    clock.advance(51);
    // Answered at the timeout while its fdatasync is still held, not when the sync ends.
    expect((await put).status).toBe('FLUSH_DISK_TIMEOUT');
    expect(store.stats().flushDiskTimeoutTotal).toBe(1);
    expect(store.stats().commitLogFlushedOffset).toBeLessThan(store.stats().commitLogMaxOffset);
    // Written, readable, and durable once the slow sync completes.
    expect(decodeRecords((await store.getMessage('TopicA', 0, 0, 10)).records).map((m) => m.body.toString())).toEqual(['slow']);
    sync.release();
    await waitFor('the held sync to complete', 20_000, async () => store.stats().commitLogFlushedOffset === store.stats().commitLogMaxOffset, 5);
    expect((await store.putMessages(makeBatch('TopicA', 0, ['fast']))).status).toBe('PUT_OK');
    expect(store.stats().flushDiskTimeoutTotal).toBe(1);
  });

  it('fails the waiting puts when fdatasync fails, and keeps serving', async () => {
    let fail = true;
    const target: GroupCommitTarget & { flushed: number; max: number } = {
      flushed: 0,
      max: 0,
      async flushAsync() {
        if (fail) throw new Error('EIO');
        this.flushed = this.max;
      },
      getFlushedOffset() {
        return this.flushed;
      },
    };
    const service = new GroupCommitService(target, 1_000, new StoreStatsService(), silentLogger, frozen);
    target.max = 100;
    await expect(service.waitForFlush(100)).rejects.toThrow(/could not sync/);
    fail = false;
    target.max = 200;
    await expect(service.waitForFlush(200)).resolves.toBe('PUT_OK');
    // Already on disk: answered without a sync.
    await expect(service.waitForFlush(150)).resolves.toBe('PUT_OK');
    await service.shutdown();
  });

  it('answers the puts still waiting at shutdown from one last sync', async () => {
    const sync = new ControlledSync();
    const store = openSyncStore(sync);
    // Shut down in the same turn: their group's sync has not begun, the loop stops without it.
    const pending = Array.from({ length: 4 }, (_, i) => store.putMessages(makeBatch('TopicA', 0, [`p${i}`])));
    await store.shutdown();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(['PUT_OK', 'PUT_OK', 'PUT_OK', 'PUT_OK']);
  });

  it('starts a sync as soon as minGroupBytes wait, and otherwise after the turn of the event loop', async () => {
    let written = 0;
    let flushed = 0;
    const syncs: number[] = [];
    const target: GroupCommitTarget = {
      getFlushedOffset: () => flushed,
      flushAsync: async () => {
        const upTo = written;
        syncs.push(upTo);
        await new Promise((r) => setTimeout(r, 5));
        flushed = upTo;
      },
    };
    const gc = new GroupCommitService(target, 5_000, new StoreStatsService(), silentLogger, frozen, 100);
    const puts: Promise<string>[] = [];
    for (let i = 0; i < 5; i++) {
      written += 40;
      puts.push(gc.waitForFlush(written));
    }
    // The third put brings 120 bytes: the sync starts in its call; the next two wait for the next sync.
    expect(syncs).toEqual([120]);
    expect(await Promise.all(puts)).toEqual(['PUT_OK', 'PUT_OK', 'PUT_OK', 'PUT_OK', 'PUT_OK']);
    // 80 bytes (< 100) waited when the first ended: that sync started one event-loop turn later.
    expect(syncs).toEqual([120, 200]);
    expect(gc.commits).toBe(2);
  });
});
