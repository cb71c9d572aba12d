/**
 * The POP snapshot and retention: the snapshot is copied to the tier (versioned keys, older
 * ones deleted), a broker restored onto a wiped disk starts from the tier's copy, and
 * retention (the tier's overall retention, the local disk budget) keeps the journal after the
 * newest durable snapshot, so state older than retention survives through the snapshot.
 * Real stores over temp folders, a local-folder tier.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ConsumerProgress, readQueueOffset, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { makeBatch } from '../testing/fixtures';
import { InMemoryGroups } from '../testing/pop-fixture';
import { useTempDir } from '../testing/store-fixture';
import { LocalObjectStore } from '../tier/local-object-store';
import { LocalTierManifest } from '../tier/local-tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG } from '../tier/tier-upload-service';
import { TieredStorage } from '../tier/tiered-storage';
import { TopicConfigManager } from '../topic-config-manager';
import { createPopService } from './create-pop-service';
import { POP_JOURNAL_TOPIC } from './pop-journal';
import { TIER_SNAPSHOT_PREFIX } from './pop-snapshot-tier';

const fx = useTempDir('cirrusmq-pop-snapshot-tier-');
const SEGMENT = 16 * 1024;
const storeDir = () => path.join(fx.dir, 'store');
const view = (p: ConsumerProgress) => p.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight]);
const req = { topic: 'T', group: 'g', max: 10, invisibleMs: 600_000, waitMs: 0 };
const body = 'x'.repeat(1000);

/** Tier retention's clock: moved past every segment's last write to let retention delete all it may. */
let clockSkewMs = 0;

async function openBroker(opts: { tiered: boolean; diskBudgetBytes?: number }, ns: FakeNameServer, groups: InMemoryGroups) {
  const objects = new LocalObjectStore(path.join(fx.dir, 'tier'), 'C/broker-a/');
  const tier = opts.tiered
    ? new TieredStorage(
        objects,
        new LocalTierManifest(path.join(fx.dir, 'tier', '_manifest')),
        {
          storeDir: storeDir(),
          commitLogSegmentBytes: SEGMENT,
          consumeQueueUnitsPerFile: 64,
          index: { hashSlotNum: 64, indexNum: 256 },
          read: { blockBytes: 4096, cacheBytes: 64 * 1024, readAheadBlocks: 1 },
          upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false, retentionMs: 1_000 },
          owner: { clusterName: 'C', brokerName: 'broker-a' },
          now: () => Date.now() + clockSkewMs,
        },
        silentLogger,
      )
    : undefined;
  const store = new DefaultMessageStore(
    { storeDir: storeDir(), commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 64, flushIntervalMs: 50, indexHashSlotNum: 64, indexNum: 256, cleanIntervalMs: 3_600_000, diskBudgetBytes: opts.diskBudgetBytes ?? 0 },
    silentLogger,
    tier,
  );
  await store.open();
  const { popService, keeper } = await createPopService({
    brokerName: 'broker-a',
    storeDir: storeDir(),
    store,
    topicConfigManager: new TopicConfigManager('broker-a', ns),
    groups,
    nameServer: ns,
    logger: silentLogger,
    snapshotIntervalMs: 3_600_000,
    tierObjects: tier ? objects : undefined,
    holdTierRetention: tier ? (hold) => tier.holdRetention(hold) : undefined,
  });
  let closed = false;
  const close = async (clean: boolean) => {
    if (closed) return;
    closed = true;
    popService.shutdown();
    if (clean) await keeper.close();
    await store.shutdown();
  };
  fx.onCleanup(() => close(false));
  return { store, tier, objects, popService, keeper, close };
}

type Broker = Awaited<ReturnType<typeof openBroker>>;

async function send(store: DefaultMessageStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await store.putMessages(makeBatch('T', 0, [{ body }]))).status).toBe('PUT_OK');
}

/** Leases 0..9, acks 0..3, more messages, snapshot, then acks 4..5 and leases 10..12: the journal after the snapshot holds the last changes. */
async function consumeAroundSnapshot(b: Broker): Promise<{ hold: number; before: ConsumerProgress }> {
  await send(b.store, 20);
  const got = await b.popService.pop(req);
  expect(got.messages).toHaveLength(10);
  await b.popService.ack({ topic: 'T', group: 'g', receiptHandles: got.messages.slice(0, 4).map((m) => m.receiptHandle) });
  // A segment's worth more, so the journal records before the snapshot sit in segments that retention may delete.
  await send(b.store, 20);
  await b.keeper.snapshot();
  const hold = b.keeper.retentionHold();
  expect(hold).toBe(b.store.commitLog.getMaxOffset());
  await b.popService.ack({ topic: 'T', group: 'g', receiptHandles: got.messages.slice(4, 6).map((m) => m.receiptHandle) });
  expect((await b.popService.pop({ ...req, max: 3 })).messages).toHaveLength(3);
  const before = await b.popService.progress('T', 'g');
  expect(view(before)).toEqual([[6, 13, 7]]);
  // Enough after it to seal the segments holding those journal records.
  await send(b.store, 40);
  return { hold, before };
}

describe('POP snapshot in the tier, and retention held by the journal', () => {
  it('a wiped disk restores from the tier copy; tier retention deleted the journal before the snapshot, never after', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    const groups = new InMemoryGroups();
    clockSkewMs = 0;
    const b = await openBroker({ tiered: true }, ns, groups);
    const { hold, before } = await consumeAroundSnapshot(b);
    const [first, ...more] = await b.objects.list(TIER_SNAPSHOT_PREFIX);
    expect(more).toHaveLength(0);
    const journalEnd = b.store.commitLog.getMaxOffset();
    await b.tier!.uploadPendingNow();
    expect(b.tier!.stats().tieredMaxOffset).toBeGreaterThan(hold + 4_000);

    // Every tiered segment is past retention now: only the hold keeps any.
    clockSkewMs = 3_600_000;
    await b.tier!.uploadPendingNow();
    const stats = b.tier!.stats();
    expect(stats.tieredMinOffset).toBeGreaterThan(0);
    expect(stats.tieredMinOffset).toBeLessThanOrEqual(hold);
    expect(stats.tieredMinOffset).toBeGreaterThan(hold - SEGMENT);
    expect(journalEnd).toBeGreaterThan(hold);

    await b.close(false);
    fs.rmSync(storeDir(), { recursive: true, force: true });
    clockSkewMs = 0;
    const r = await openBroker({ tiered: true }, ns, groups);
    expect(r.keeper.recovered).toMatchObject({ source: 'tier' });
    expect(r.keeper.recovered!.journalRecords).toBeGreaterThan(0);
    // The journal records written before the snapshot went with their segments: the state they made comes from the snapshot.
    expect(r.keeper.recovered!.journalOffset).toBeGreaterThan(0);
    const oldest = await r.store.getMessage(POP_JOURNAL_TOPIC, 0, 0, 1).catch(() => undefined);
    expect(oldest === undefined || oldest.count === 0 || readQueueOffset(oldest.records, 0) > 0).toBe(true);
    expect(view(await r.popService.progress('T', 'g'))).toEqual(view(before));

    // The next copy replaces the old one: one version kept.
    await r.popService.pop({ ...req, max: 1 });
    await r.keeper.snapshot();
    const keys = await r.objects.list(TIER_SNAPSHOT_PREFIX);
    expect(keys).toHaveLength(1);
    expect(keys[0]! > first!).toBe(true);
    await r.close(true);
  }, 60_000);

  it('the local disk budget deletes no journal after the local snapshot; a crash then keeps the state; the next snapshot lets it go on', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    const groups = new InMemoryGroups();
    const b = await openBroker({ tiered: false, diskBudgetBytes: 2 * SEGMENT }, ns, groups);
    const { hold, before } = await consumeAroundSnapshot(b);
    await b.store.flushRound();
    expect(b.store.cleanCommitLogService.run().deletedSegments).toBeGreaterThan(0);
    const min = b.store.commitLog.getMinOffset();
    expect(min).toBeLessThanOrEqual(hold);
    // Over budget still: only the hold stops it.
    expect(b.store.commitLog.getMaxOffset() - min).toBeGreaterThan(2 * SEGMENT);

    await b.popService.shutdown();
    await b.store.simulateCrash();
    const r = await openBroker({ tiered: false, diskBudgetBytes: 2 * SEGMENT }, ns, groups);
    expect(r.keeper.recovered).toMatchObject({ source: 'local' });
    expect(view(await r.popService.progress('T', 'g'))).toEqual(view(before));
    await r.keeper.snapshot();
    await r.store.flushRound();
    r.store.cleanCommitLogService.run();
    expect(r.store.commitLog.getMinOffset()).toBeGreaterThan(hold);
    await r.close(true);
  }, 60_000);
});
