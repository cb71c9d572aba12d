/**
 * A topic deleted (and created again) within the tiered range stays deleted through a
 * restore onto a wiped disk: the tier keeps a copy of the tombstones (tier-tombstones.ts),
 * the restore merges it back before it rebuilds the ConsumeQueues from the extracts, and
 * leaves the deleted records' units out. Local folder backends, real files throughout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { DefaultMessageStore } from '../store/message-store';
import { TOMBSTONE_FILE } from '../store/topic-tombstones';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import type { ObjectStore } from './object-store';
import { TOMBSTONES_PREFIX } from './tier-tombstones';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';

const fx = useTempDir('cirrusmq-topic-delete-restore-');
const SEGMENT = 4096;
const storeDir = () => path.join(fx.dir, 'store');

interface Options {
  s3Durability?: boolean;
  /** Wraps the object store (fault injection). */
  objects?: (local: ObjectStore) => ObjectStore;
}

async function openTiered(options: Options = {}) {
  const local = new LocalObjectStore(path.join(fx.dir, 'tier'), 'C/broker-a/');
  const objects = options.objects ? options.objects(local) : local;
  const tier = new TieredStorage(
    objects,
    new LocalTierManifest(path.join(fx.dir, 'tier', '_manifest')),
    {
      storeDir: storeDir(),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 16,
      index: { hashSlotNum: 64, indexNum: 256 },
      read: { blockBytes: 1024, cacheBytes: 8 * 1024, readAheadBlocks: 1 },
      upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false },
      owner: { clusterName: 'C', brokerName: 'broker-a' },
      wal: options.s3Durability ? { windowMs: 5, maxChunkBytes: 64 * 1024, maxInFlight: 2, ackTimeoutMs: 10_000 } : undefined,
    },
    silentLogger,
  );
  const store = new DefaultMessageStore(
    {
      storeDir: storeDir(),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 16,
      flushIntervalMs: 50,
      indexHashSlotNum: 64,
      indexNum: 256,
      cleanIntervalMs: 3_600_000,
    },
    silentLogger,
    tier,
  );
  fx.onCleanup(() => store.shutdown());
  await store.open();
  return { store, tier, local };
}

/** Shuts the broker down and loses its disk. */
async function wipe(store: DefaultMessageStore): Promise<void> {
  await store.shutdown();
  fs.rmSync(storeDir(), { recursive: true, force: true });
}

const body = (name: string) => `${name}-${'x'.repeat(200)}`;

interface Sent {
  body: string;
  id: string;
  offset: number;
}

/** `n` messages to T/queueId, each with key `k` and its own key; what was stored. */
async function send(store: DefaultMessageStore, topic: string, queueId: number, prefix: string, n: number): Promise<Sent[]> {
  const out: Sent[] = [];
  for (let i = 0; i < n; i++) {
    const r = await store.putMessages(makeBatch(topic, queueId, [{ body: body(`${prefix}${i}`), keys: ['k', `${prefix}${i}`] }]));
    expect(r.status).toBe('PUT_OK');
    const [m] = decodeRecords((await store.getMessage(topic, queueId, r.queueOffset, 1)).records);
    out.push({ body: m!.body.toString(), id: m!.messageId, offset: m!.commitLogOffset });
  }
  return out;
}

async function readQueue(store: DefaultMessageStore, topic: string, queueId: number): Promise<{ bodies: string[]; first: number }> {
  const bodies: string[] = [];
  let first = -1;
  for (let next = 0; ; ) {
    const got = await store.getMessage(topic, queueId, next, 7);
    if (got.count === 0) return { bodies, first };
    if (first < 0) first = got.minOffset;
    bodies.push(...decodeRecords(got.records).map((m) => m.body.toString()));
    next = got.nextOffset;
  }
}

async function byKey(store: DefaultMessageStore, topic: string, key: string): Promise<string[]> {
  return decodeRecords((await store.queryMessage(topic, key, 1000, 0, Number.MAX_SAFE_INTEGER)).records).map((m) => m.body.toString());
}

async function idHits(store: DefaultMessageStore, sent: Sent[]): Promise<number> {
  let n = 0;
  for (const m of sent) n += (await store.queryMessageById(m.id, 4)).count;
  return n;
}

/** Old messages on T/0, T/1 and Other/0, all tiered; T deleted; new ones on T/0, partly tiered. */
async function deleteAndRecreate(options: Options) {
  const first = await openTiered(options);
  const { store, tier } = first;
  const oldT0 = await send(store, 'T', 0, 'old', 30);
  const oldT1 = await send(store, 'T', 1, 'old-q1-', 10);
  const other = await send(store, 'Other', 0, 'other', 5);
  await tier.uploadPendingNow();
  const deletedAt = store.commitLog.getMaxOffset();
  expect(tier.stats().tieredMaxOffset).toBeGreaterThan(oldT0[20]!.offset); // the old records are in the tier
  const deleted = await store.deleteTopic('T', 111);
  expect(deleted.deletedBelow).toBe(deletedAt);
  const newT0 = await send(store, 'T', 0, 'new', 30);
  await tier.uploadPendingNow();
  const tieredEnd = tier.stats().tieredMaxOffset;
  // New records both in the tier and after it (the active segment).
  expect(newT0.filter((m) => m.offset < tieredEnd).length).toBeGreaterThan(5);
  expect(newT0.filter((m) => m.offset >= tieredEnd).length).toBeGreaterThan(0);
  return { ...first, oldT0, oldT1, other, newT0, tieredEnd };
}

describe('topic delete, then a restore from the tier onto a wiped disk', () => {
  for (const s3Durability of [false, true]) {
    it(`restores only the topic's new incarnation, from queue offset 0, and lookups miss the old messages (durability ${s3Durability ? 's3' : 'async'})`, async () => {
      const run = await deleteAndRecreate({ s3Durability });
      await wipe(run.store);
      expect(fs.existsSync(path.join(storeDir(), TOMBSTONE_FILE))).toBe(false);

      const { store } = await openTiered({ s3Durability });
      expect(store.commitLog.getMinOffset()).toBe(run.tieredEnd); // restored from the tier
      // s3: every acknowledged message comes back; async: the tiered ones.
      const expectedNew = run.newT0.filter((m) => s3Durability || m.offset < run.tieredEnd);
      const t0 = await readQueue(store, 'T', 0);
      expect(t0.bodies).toEqual(expectedNew.map((m) => m.body));
      expect(t0.first).toBe(0);
      expect((await readQueue(store, 'T', 1)).bodies).toEqual([]);
      expect((await readQueue(store, 'Other', 0)).bodies).toEqual(run.other.map((m) => m.body));
      // Lookups: the old messages' index entries were restored with the rest, and are dropped on read.
      expect(await byKey(store, 'T', 'k')).toEqual(expectedNew.map((m) => m.body));
      expect(await byKey(store, 'T', 'old0')).toEqual([]);
      expect(await idHits(store, [...run.oldT0, ...run.oldT1])).toBe(0);
      expect(await idHits(store, expectedNew)).toBe(expectedNew.length);
      expect(await idHits(store, run.other)).toBe(run.other.length);
      // The table came back: the deleted incarnation stays deleted.
      expect(store.ensureTopicIncarnation('T', 111)).toBe('deleted');
      // Sends continue the new incarnation's queue.
      const next = await store.putMessages(makeBatch('T', 0, ['after the restore']));
      expect(next.queueOffset).toBe(expectedNew.length);
    });
  }

  it('a broker that missed the delete and dropped its queues for the newer incarnation restores only that one', async () => {
    const { store, tier } = await openTiered();
    expect(store.ensureTopicIncarnation('T', 100)).toBe('current');
    const old = await send(store, 'T', 0, 'old', 30);
    await tier.uploadPendingNow();
    // The topic came back with a newer createdAt while this broker was down during its delete.
    expect(store.ensureTopicIncarnation('T', 200)).toBe('current');
    const fresh = await send(store, 'T', 0, 'new', 30);
    await tier.uploadPendingNow();
    const tieredEnd = tier.stats().tieredMaxOffset;
    await wipe(store);

    const restored = await openTiered();
    expect(restored.store.ensureTopicIncarnation('T', 200)).toBe('current');
    const expected = fresh.filter((m) => m.offset < tieredEnd).map((m) => m.body);
    expect(expected.length).toBeGreaterThan(5);
    expect((await readQueue(restored.store, 'T', 0)).bodies).toEqual(expected);
    expect(await idHits(restored.store, old)).toBe(0);
  });

  it('keeps one version of the tombstones in the tier: each change a new key, older ones deleted', async () => {
    const { store, tier, local } = await openTiered();
    await send(store, 'A', 0, 'a', 3);
    await send(store, 'B', 0, 'b', 3);
    await store.deleteTopic('A', 1);
    await store.deleteTopic('B', 2);
    await tier.uploadPendingNow(); // syncs the copy before the pass
    const keys = await local.list(TOMBSTONES_PREFIX);
    expect(keys).toHaveLength(1);
    expect(Number(keys[0]!.slice(TOMBSTONES_PREFIX.length))).toBeGreaterThanOrEqual(2);
    const copy = JSON.parse((await local.getObject(keys[0]!)).toString()) as { topics: Record<string, { deleted: boolean }> };
    expect(copy.topics).toMatchObject({ A: { deleted: true }, B: { deleted: true } });
    // A restart continues after the newest version, and writes nothing when the tier matches.
    await store.shutdown();
    const again = await openTiered();
    await again.tier.uploadPendingNow();
    expect(await local.list(TOMBSTONES_PREFIX)).toEqual(keys);
    await again.store.deleteTopic('A', 3);
    await again.tier.uploadPendingNow();
    const after = await local.list(TOMBSTONES_PREFIX);
    expect(after).toHaveLength(1);
    expect(after[0]! > keys[0]!).toBe(true);
  });

  it('with durability s3, acknowledges a delete only once the tier holds its tombstone, and answers TIER_UNAVAILABLE when it cannot', async () => {
    let release: () => void = () => {};
    let gate = new Promise<void>((r) => (release = r));
    let failing = false;
    let atGate = 0;
    const { store } = await openTiered({
      s3Durability: true,
      objects: (local) =>
        Object.assign(Object.create(local) as ObjectStore, {
          putObject: async (...a: Parameters<ObjectStore['putObject']>) => {
            if (a[0].startsWith(TOMBSTONES_PREFIX)) {
              if (failing) throw new Error('injected tier outage');
              atGate++;
              await gate;
            }
            return local.putObject(...a);
          },
        }),
    });
    await send(store, 'T', 0, 'old', 3);
    let answered = false;
    const deleting = store.deleteTopic('T', 111).then((r) => ((answered = true), r));
    await expect.poll(() => atGate, { timeout: 20_000, interval: 5 }).toBeGreaterThan(0);
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    release();
    expect((await deleting).queues).toBe(1);

    failing = true;
    gate = Promise.resolve();
    await expect(store.deleteTopic('U', 5)).rejects.toMatchObject({ code: 'TIER_UNAVAILABLE', retriable: true });
    failing = false;
    await expect(store.deleteTopic('U', 5)).resolves.toMatchObject({ topic: 'U' });
  });

  it('with durability async, commits no segment to the tier before the tombstones before it are there', async () => {
    let failing = false;
    const { store, tier } = await openTiered({
      objects: (local) =>
        Object.assign(Object.create(local) as ObjectStore, {
          putObject: (...a: Parameters<ObjectStore['putObject']>) =>
            failing && a[0].startsWith(TOMBSTONES_PREFIX) ? Promise.reject(new Error('injected tier outage')) : local.putObject(...a),
        }),
    });
    await send(store, 'T', 0, 'old', 30);
    await tier.uploadPendingNow();
    const before = tier.stats().tieredMaxOffset;
    failing = true;
    await store.deleteTopic('T', 111); // async: acknowledged on the local tombstone
    await send(store, 'T', 0, 'new', 30);
    await expect(tier.uploadPendingNow()).rejects.toThrow(/upload failed/);
    expect(tier.stats().tieredMaxOffset).toBe(before);
    failing = false;
    await tier.uploadPendingNow();
    expect(tier.stats().tieredMaxOffset).toBeGreaterThan(before);
  });
});
