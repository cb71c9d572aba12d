import { afterEach, describe, expect, it } from 'vitest';
import { type ConsumerProgress, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { InMemoryGroups } from '../testing/pop-fixture';
import { LocalObjectStore } from '../tier/local-object-store';
import { TopicConfigManager } from '../topic-config-manager';
import { createPopService } from './create-pop-service';
import type { PopService } from './pop-service';
import type { PopStateKeeper } from './pop-state-keeper';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const storeConfig = (storeDir: string) => ({ storeDir, commitLogSegmentBytes: 64 << 20, consumeQueueUnitsPerFile: 100_000, flushIntervalMs: 100 });

async function open(dir: string, groups: InMemoryGroups, ns: FakeNameServer) {
  const store = await new DefaultMessageStore(storeConfig(dir), silentLogger).open();
  const { popService, keeper } = await createPopService({
    brokerName: 'broker-a',
    storeDir: dir,
    store,
    topicConfigManager: new TopicConfigManager('broker-a', ns),
    groups,
    nameServer: ns,
    logger: silentLogger,
  });
  return { store, popService, keeper };
}

const view = (p: ConsumerProgress) => p.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight]);
const req = { topic: 'T', group: 'g', max: 32, invisibleMs: 60_000, waitMs: 0 };

async function crash(b: { store: DefaultMessageStore; popService: PopService; keeper: PopStateKeeper }, clean: boolean) {
  b.popService.shutdown();
  if (clean) {
    await b.keeper.close();
    await b.store.shutdown();
  } else {
    await b.store.simulateCrash();
  }
}

describe('POP state recovery (journal in the CommitLog + snapshot)', () => {
  for (const mode of ['journal only (crash)', 'snapshot + journal after it (crash)', 'clean shutdown']) {
    it(`restores cursors, leases, acks, changes, commits and resets: ${mode}`, async () => {
      const dir = tempDir();
      dirs.push(dir);
      const ns = new FakeNameServer();
      ns.addTopic('T', 2);
      const groups = new InMemoryGroups();
      let b = await open(dir, groups, ns);
      for (let i = 0; i < 10; i++) await b.store.putMessages(makeBatch('T', i % 2, [`m${i}`]));
      const got = await b.popService.pop({ ...req, max: 6 });
      await b.popService.ack({ topic: 'T', group: 'g', receiptHandles: got.messages.slice(0, 3).map((m) => m.receiptHandle) });
      if (mode.startsWith('snapshot')) await b.keeper.snapshot();
      const changed = await b.popService.changeInvisibility({
        topic: 'T',
        group: 'g',
        entries: [{ receiptHandle: got.messages[3]!.receiptHandle, invisibleMs: 120_000 }],
      });
      await b.popService.commitOffset({ topic: 'T', group: 'g', queueId: 1, offset: 2 });
      await b.popService.changeInvisibility({
        topic: 'T',
        group: 'g',
        entries: got.messages.slice(4).map((m) => ({ receiptHandle: m.receiptHandle, invisibleMs: 0 })),
      });
      await b.popService.pop({ ...req, max: 1 });
      const before = await b.popService.progress('T', 'g');
      await crash(b, mode === 'clean shutdown');

      b = await open(dir, groups, ns);
      expect(view(await b.popService.progress('T', 'g'))).toEqual(view(before));
      // The changed handle still works after the restart (same key, same generation); the old one does not.
      const r0 = changed.results[0]!;
      if (r0.status !== 'OK') throw new Error('change failed');
      const acks = await b.popService.ack({
        topic: 'T',
        group: 'g',
        receiptHandles: [got.messages[3]!.receiptHandle, r0.receiptHandle, got.messages[0]!.receiptHandle],
      });
      expect(acks.results.map((r) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual(['RECEIPT_HANDLE_EXPIRED', 'OK', 'RECEIPT_HANDLE_EXPIRED']);
      // New generations stay above every handle given out before.
      const next = await b.popService.pop(req);
      expect(next.messages.every((m) => !got.messages.some((o) => o.receiptHandle === m.receiptHandle))).toBe(true);
      await b.popService.resetOffset({ topic: 'T', group: 'g', to: 'earliest' });
      const afterReset = await b.popService.progress('T', 'g');
      await crash(b, false);
      b = await open(dir, groups, ns);
      expect(view(await b.popService.progress('T', 'g'))).toEqual(view(afterReset));
      await crash(b, true);
    });
  }

  it('replays 200,000 leases within seconds (measured)', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const ns = new FakeNameServer();
    ns.addTopic('Big', 1);
    const groups = new InMemoryGroups();
    let b = await open(dir, groups, ns);
    const n = 200_000;
    const body = Buffer.alloc(16);
    for (let i = 0; i < n; i += 1000)
      await b.store.putMessages(
        makeBatch(
          'Big',
          0,
          Array.from({ length: 1000 }, () => ({ body })),
        ),
      );
    let leased = 0;
    while (leased < n) leased += (await b.popService.pop({ ...req, topic: 'Big' })).messages.length;
    await crash(b, false);
    const t0 = performance.now();
    b = await open(dir, groups, ns);
    const ms = performance.now() - t0;
    const p = await b.popService.progress('Big', 'g');
    expect(p.queues[0]).toMatchObject({ committedOffset: 0, cursor: n, inFlight: n });
    console.log(`pop journal replay: ${n} leases in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(20_000);
    await crash(b, true);
  }, 120_000);
});

describe('retention while the consume core starts', () => {
  it('deletes no CommitLog segment (the journal may be in it) while the receipt key is still being fetched from the tier', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    // Small segments, all old enough for retention at once.
    const store = await new DefaultMessageStore({ ...storeConfig(dir), commitLogSegmentBytes: 64 << 10, fileReservedTimeMs: 0 }, silentLogger).open();
    const body = Buffer.alloc(1000);
    for (let i = 0; i < 20; i++)
      await store.putMessages(
        makeBatch(
          'T',
          0,
          Array.from({ length: 10 }, () => ({ body })),
        ),
      );
    expect(store.commitLog.mappedFileQueue.mappedFiles.length).toBeGreaterThan(2);
    store.flush(); // retention deletes only flushed segments
    let releaseKey!: () => void;
    const keyFetched = new Promise<void>((r) => (releaseKey = r));
    const tierDir = tempDir();
    dirs.push(tierDir);
    const tierObjects = new LocalObjectStore(tierDir, 'c/broker-a/');
    const getObject = tierObjects.getObject.bind(tierObjects);
    tierObjects.getObject = async (key) => {
      await keyFetched;
      return getObject(key);
    };
    const starting = createPopService({
      brokerName: 'broker-a',
      storeDir: dir,
      store,
      topicConfigManager: new TopicConfigManager('broker-a', new FakeNameServer()),
      groups: new InMemoryGroups(),
      nameServer: ns,
      logger: silentLogger,
      tierObjects,
    });
    // The key fetch is pending: a retention pass now must keep every segment.
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0);
    releaseKey();
    const { popService, keeper } = await starting;
    // Recovered with no journal yet: the hold moves up, and the old segments may go now.
    expect(store.cleanCommitLogService.run().deletedSegments).toBeGreaterThan(0);
    popService.shutdown();
    await keeper.close();
    await store.shutdown();
  });
});
