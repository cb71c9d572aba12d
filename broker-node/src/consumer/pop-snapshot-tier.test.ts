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
          upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false, retentionMs: 600_000 },
          owner: { clusterName: 'C', brokerName: 'broker-a' },
          now: () => Date.now() + clockSkewMs,
        },
        silentLogger,
      )
    : undefined;
  const store = new DefaultMessageStore(
    {
      storeDir: storeDir(),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 64,
      flushIntervalMs: 50,
      indexHashSlotNum: 64,
      indexNum: 256,
      cleanIntervalMs: 3_600_000,
      diskBudgetBytes: opts.diskBudgetBytes ?? 0,
    },
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
    tierDurableEnd: tier ? () => tier.tieredLog.getMaxOffset() : undefined,
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
async function consumeAroundSnapshot(b: Broker): Promise<{ snapshotEnd: number; before: ConsumerProgress }> {
  await send(b.store, 20);
  const got = await b.popService.pop(req);
  expect(got.messages).toHaveLength(10);
  await b.popService.ack({ topic: 'T', group: 'g', receiptHandles: got.messages.slice(0, 4).map((m) => m.receiptHandle) });
  // A segment's worth more, so the journal records before the snapshot sit in segments that retention may delete.
  await send(b.store, 20);
  const snapshotEnd = b.store.commitLog.getMaxOffset();
  await b.keeper.snapshot();
  await b.popService.ack({ topic: 'T', group: 'g', receiptHandles: got.messages.slice(4, 6).map((m) => m.receiptHandle) });
  expect((await b.popService.pop({ ...req, max: 3 })).messages).toHaveLength(3);
  const before = await b.popService.progress('T', 'g');
  expect(view(before)).toEqual([[6, 13, 7]]);
  // Enough after it to seal the segments holding those journal records.
  await send(b.store, 40);
  return { snapshotEnd, before };
}

describe('POP snapshot in the tier, and retention held by the journal', () => {
  it('a wiped disk restores from the tier copy; tier retention deleted the journal before the snapshot, never after', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    const groups = new InMemoryGroups();
    clockSkewMs = 0;
    const b = await openBroker({ tiered: true }, ns, groups);
    const { snapshotEnd: hold, before } = await consumeAroundSnapshot(b);
    const first = (await b.objects.list(TIER_SNAPSHOT_PREFIX)).sort().at(-1);
    // The copy is stored, but the journal it covers is not all tiered yet: a restore could not use it, so it holds everything.
    expect(b.keeper.retentionHold()).toBe(0);
    const journalEnd = b.store.commitLog.getMaxOffset();
    await b.tier!.uploadPendingNow();
    expect(b.keeper.retentionHold()).toBe(hold);
    // Restorable now: the next snapshot (a new copy, the journal after the first one not all tiered) deletes the copies older than the first.
    const secondEnd = b.store.commitLog.getMaxOffset();
    await b.keeper.snapshot();
    const copies = (await b.objects.list(TIER_SNAPSHOT_PREFIX)).sort();
    expect(copies).toHaveLength(2);
    expect(copies[0]).toBe(first);
    expect(b.keeper.retentionHold()).toBe(hold);
    // Changes after the newest copy, sealed and tiered: the restore replays them after it.
    expect((await b.popService.pop({ ...req, max: 2 })).messages).toHaveLength(2);
    const last = await b.popService.progress('T', 'g');
    expect(view(before)).toEqual([[6, 13, 7]]);
    expect(view(last)).toEqual([[6, 15, 9]]);
    await send(b.store, 40);
    await b.tier!.uploadPendingNow();
    expect(b.tier!.stats().tieredMaxOffset).toBeGreaterThan(secondEnd + 4_000);
    // The second copy is restorable now: the hold moves up to it.
    expect(b.keeper.retentionHold()).toBe(secondEnd);
    expect(secondEnd).toBeGreaterThan(hold);

    // Every tiered segment is past retention now: only the hold keeps any.
    clockSkewMs = 3_600_000;
    await b.tier!.uploadPendingNow();
    const stats = b.tier!.stats();
    expect(stats.tieredMinOffset).toBeGreaterThan(0);
    expect(stats.tieredMinOffset).toBeLessThanOrEqual(secondEnd);
    expect(stats.tieredMinOffset).toBeGreaterThan(secondEnd - SEGMENT);
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
    expect(view(await r.popService.progress('T', 'g'))).toEqual(view(last));

    // A restored log is all in the tier: the copy taken at the restart is restorable at once, and the older ones go.
    await r.keeper.snapshot();
    const keys = (await r.objects.list(TIER_SNAPSHOT_PREFIX)).sort();
    expect(keys).toHaveLength(1);
    expect(keys[0]! > first!).toBe(true);
    await r.close(true);
  }, 60_000);

  it('a copy whose journal was not all in the tier is not used by a restore, and is deleted; the older restorable one stays until then', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    const groups = new InMemoryGroups();
    clockSkewMs = 0;
    const b = await openBroker({ tiered: true }, ns, groups);
    await send(b.store, 20);
    await b.tier!.uploadPendingNow();
    await b.keeper.snapshot();
    const restorable = (await b.objects.list(TIER_SNAPSHOT_PREFIX)).sort();
    expect(restorable).toHaveLength(1);
    // Leases whose journal records stay in the active segment, never tiered; a copy that names them.
    expect((await b.popService.pop(req)).messages).toHaveLength(10);
    await b.keeper.snapshot();
    const copies = (await b.objects.list(TIER_SNAPSHOT_PREFIX)).sort();
    expect(copies).toHaveLength(2);
    expect(b.keeper.retentionHold()).toBeLessThan(b.store.commitLog.getMaxOffset());

    await b.close(false);
    fs.rmSync(storeDir(), { recursive: true, force: true });
    const r = await openBroker({ tiered: true }, ns, groups);
    expect(r.keeper.recovered).toMatchObject({ source: 'tier', journalOffset: Number(restorable[0]!.slice(TIER_SNAPSHOT_PREFIX.length)) });
    expect(await r.objects.list(TIER_SNAPSHOT_PREFIX)).not.toContain(copies[1]);
    // The leases went with the disk: the messages are delivered again, as attempt 1.
    const again = await r.popService.pop(req);
    expect(again.messages.map((m) => m.deliveryAttempt)).toEqual(Array(10).fill(1));
    await r.close(true);
  }, 60_000);

  it('the local disk budget deletes no journal after the local snapshot; a crash then keeps the state; the next snapshot lets it go on', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    const groups = new InMemoryGroups();
    const b = await openBroker({ tiered: false, diskBudgetBytes: 2 * SEGMENT }, ns, groups);
    // No consumer yet: nothing to keep.
    await b.keeper.snapshot();
    expect(b.keeper.retentionHold()).toBe(Number.POSITIVE_INFINITY);
    const { snapshotEnd: hold, before } = await consumeAroundSnapshot(b);
    expect(b.keeper.retentionHold()).toBe(hold);
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
    // Idle since that snapshot: the budget alone decides.
    expect(r.keeper.retentionHold()).toBe(Number.POSITIVE_INFINITY);
    expect(r.store.commitLog.getMaxOffset() - r.store.commitLog.getMinOffset()).toBeLessThanOrEqual(3 * SEGMENT);
    await r.close(true);
  }, 60_000);
});
