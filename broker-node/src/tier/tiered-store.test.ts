/**
 * The message store with a tier (the local folder backends): deletion waits for the manifest,
 * reads cross from the tier to the disk, overall retention trims what readers can reach.
 */
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { DefaultMessageStore } from '../store/message-store';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import type { ObjectStore } from './object-store';
import type { TieredSegment, TierManifest } from './tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';

const fx = useTempDir('cirrusmq-tiered-store-');
const SEGMENT = 4096;

/** A manifest whose commits fail while `down`, and whose lists fail while `listDown`. */
class FlakyManifest implements TierManifest {
  down = false;
  listDown = false;
  constructor(private readonly inner: TierManifest) {}
  list() {
    return this.listDown ? Promise.reject(new Error('injected manifest outage')) : this.inner.list();
  }
  commit(s: TieredSegment) {
    return this.down ? Promise.reject(new Error('injected manifest outage')) : this.inner.commit(s);
  }
  remove(o: number) {
    return this.inner.remove(o);
  }
}

async function openTiered(
  options: { retentionMs?: number; now?: () => number; s3Durability?: boolean; manifestDown?: boolean; objects?: (local: ObjectStore) => ObjectStore } = {},
) {
  const manifest = new FlakyManifest(new LocalTierManifest(path.join(fx.dir, 'tier', '_manifest')));
  manifest.listDown = options.manifestDown ?? false;
  const local = new LocalObjectStore(path.join(fx.dir, 'tier'), 'C/broker-a/');
  const tier = new TieredStorage(
    options.objects ? options.objects(local) : local,
    manifest,
    {
      storeDir: path.join(fx.dir, 'store'),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 16,
      read: { blockBytes: 1024, cacheBytes: 8 * 1024, readAheadBlocks: 1 },
      upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false, retentionMs: options.retentionMs ?? 0 },
      now: options.now,
      wal: options.s3Durability ? { windowMs: 5, maxChunkBytes: 64 * 1024, maxInFlight: 2, ackTimeoutMs: 5_000 } : undefined,
    },
    silentLogger,
  );
  const store = new DefaultMessageStore(
    // A budget of one segment: every sealed segment is "over budget" once tiered.
    {
      storeDir: path.join(fx.dir, 'store'),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 16,
      flushIntervalMs: 50,
      diskBudgetBytes: SEGMENT,
      cleanIntervalMs: 3_600_000,
    },
    silentLogger,
    tier,
  );
  fx.onCleanup(() => store.shutdown());
  await store.open();
  return { store, tier, manifest };
}

async function fill(store: DefaultMessageStore, n: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = `m${i}-${'q'.repeat(200)}`;
    await store.putMessages(makeBatch('T', 0, [{ body, keys: [`k${i}`] }]));
    bodies.push(body);
  }
  return bodies;
}

async function readFrom(store: DefaultMessageStore, offset: number): Promise<string[]> {
  const out: string[] = [];
  for (let next = offset; ; ) {
    const got = await store.getMessage('T', 0, next, 7);
    if (got.count === 0) return out;
    out.push(...decodeRecords(got.records).map((m) => m.body.toString()));
    next = got.nextOffset;
  }
}

describe('DefaultMessageStore with a tier', () => {
  it('deletes a local segment only after its manifest entry is committed, then reads it from the tier', async () => {
    const { store, tier, manifest } = await openTiered();
    const bodies = await fill(store, 60);
    manifest.down = true;
    await expect(tier.uploadPendingNow()).rejects.toThrow(/upload failed/);
    store.flush();
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0);
    expect(store.commitLog.getMinOffset()).toBe(0);

    manifest.down = false;
    await tier.uploadPendingNow();
    store.flush(); // retention never deletes a segment with unsynced bytes
    expect(store.cleanCommitLogService.run().deletedSegments).toBeGreaterThan(1);
    expect(store.commitLog.getMinOffset()).toBeGreaterThan(0);
    // Every message once, in order, across the tier and the disk.
    expect(await readFrom(store, 0)).toEqual(bodies);
    // A lookup by key finds a message whose segment is only in the tier (its index entry is local).
    const found = await store.queryMessage('T', 'k0', 10, 0, Number.MAX_SAFE_INTEGER);
    expect(decodeRecords(found.records).map((m) => m.body.toString())).toEqual([bodies[0]]);
    expect(tier.stats()).toMatchObject({ tieredMinOffset: 0 });
    expect(tier.stats().s3Requests.get).toBeGreaterThan(0);
    // Each tiered segment is one observation of the store's upload histogram (/metrics).
    const uploads = (await store.storeStats.tierUploadSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
    expect(uploads).toBeGreaterThan(1);
    expect(uploads).toBe(tier.stats().segmentsUploaded);
  });

  it('overall retention removes tiered segments and the units that point into them', async () => {
    let clock = Date.now();
    const { store, tier } = await openTiered({ retentionMs: 60_000, now: () => clock });
    await fill(store, 60);
    // Tier while the records are young, then drop the local copies.
    await tier.uploadPendingNow();
    store.flush(); // retention never deletes a segment with unsynced bytes
    store.cleanCommitLogService.run();
    const localMin = store.commitLog.getMinOffset();
    expect(localMin).toBeGreaterThan(0);
    clock += 120_000;
    await tier.uploadPendingNow(); // this pass applies retention
    expect(tier.stats().tieredSegments).toBe(0);
    const err = await store.getMessage('T', 0, 0, 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OFFSET_BELOW_MINIMUM' });
    const minOffset = (err as { details: { minOffset: number } }).details.minOffset;
    expect(minOffset).toBeGreaterThan(0);
    const rest = await readFrom(store, minOffset);
    expect(rest.length).toBe(60 - minOffset);
  });

  it('lets local retention delete a local copy whose tiered copy overall retention removed', async () => {
    let clock = Date.now();
    const { store, tier } = await openTiered({ retentionMs: 60_000, now: () => clock });
    await fill(store, 60);
    await tier.uploadPendingNow();
    clock += 120_000;
    await tier.uploadPendingNow(); // the tiered copies go; the local ones are still there
    expect(tier.stats().tieredSegments).toBe(0);
    expect(store.commitLog.getMinOffset()).toBe(0);
    store.flush(); // retention never deletes a segment with unsynced bytes
    expect(store.cleanCommitLogService.run().deletedSegments).toBeGreaterThan(1);
    await expect(store.getMessage('T', 0, 0, 1)).rejects.toMatchObject({ code: 'OFFSET_BELOW_MINIMUM' });
  });

  it('with durability s3, a disk that lost acknowledged bytes the write-ahead log has restores them by itself (store-behind-tier.test.ts has more)', async () => {
    const { store } = await openTiered({ s3Durability: true });
    const bodies = await fill(store, 40);
    await store.shutdown();
    const fs = await import('node:fs');
    const segments = fs.readdirSync(path.join(fx.dir, 'store', 'commitlog')).sort();
    fs.rmSync(path.join(fx.dir, 'store', 'commitlog', segments.at(-1)!));
    const again = await openTiered({ s3Durability: true });
    expect(await readFrom(again.store, 0)).toEqual(bodies);
  });

  it('switched to durability s3, sends the local log the write-ahead log lacks before taking sends, so a wiped disk restores all of it', async () => {
    const first = await openTiered();
    const bodies = await fill(first.store, 40);
    await first.store.shutdown();
    const switched = await openTiered({ s3Durability: true });
    expect(switched.tier.stats().wal).toMatchObject({ durableEnd: switched.store.commitLog.getMaxOffset(), pendingBytes: 0 });
    bodies.push(...(await fill(switched.store, 5)));
    await switched.store.shutdown();
    const fs = await import('node:fs');
    fs.rmSync(path.join(fx.dir, 'store'), { recursive: true, force: true });
    const restored = await openTiered({ s3Durability: true });
    expect(await readFrom(restored.store, 0)).toEqual(bodies);
  });

  it('after a restore onto an empty disk, finds every message by key and by id: tiered ones from the index extracts, the rest from the write-ahead log', async () => {
    const first = await openTiered({ s3Durability: true });
    await fill(first.store, 60);
    await first.tier.uploadPendingNow();
    const tieredEnd = first.tier.stats().tieredMaxOffset;
    const sent: { body: string; id: string; key: string; offset: number }[] = [];
    for (let next = 0; ; ) {
      const got = await first.store.getMessage('T', 0, next, 16);
      if (got.count === 0) break;
      for (const m of decodeRecords(got.records)) sent.push({ body: m.body.toString(), id: m.messageId, key: m.keys[0]!, offset: m.commitLogOffset });
      next = got.nextOffset;
    }
    expect(sent.length).toBe(60);
    expect(sent.filter((m) => m.offset < tieredEnd).length).toBeGreaterThan(30);
    expect(sent.filter((m) => m.offset >= tieredEnd).length).toBeGreaterThan(0);
    await first.store.shutdown();
    const fs = await import('node:fs');
    fs.rmSync(path.join(fx.dir, 'store'), { recursive: true, force: true });

    const { store } = await openTiered({ s3Durability: true });
    expect(store.commitLog.getMinOffset()).toBe(tieredEnd); // restored: the tiered records are only in the tier
    for (const m of sent) {
      const byKey = decodeRecords((await store.queryMessage('T', m.key, 10, 0, Number.MAX_SAFE_INTEGER)).records);
      expect(
        byKey.map((r) => [r.body.toString(), r.commitLogOffset]),
        m.key,
      ).toEqual([[m.body, m.offset]]);
      const byId = decodeRecords((await store.queryMessageById(m.id, 10)).records);
      expect(
        byId.map((r) => [r.body.toString(), r.commitLogOffset]),
        m.id,
      ).toEqual([[m.body, m.offset]]);
    }
  });

  it('starts on its local log while the tier is down, answers TIER_UNAVAILABLE below it, and catches up once the tier answers', async () => {
    const first = await openTiered();
    const bodies = await fill(first.store, 60);
    await first.tier.uploadPendingNow();
    first.store.flush();
    first.store.cleanCommitLogService.run();
    const localMin = first.store.commitLog.getMinOffset();
    expect(localMin).toBeGreaterThan(0);
    await first.store.shutdown();

    const { store, tier, manifest } = await openTiered({ manifestDown: true });
    await expect(store.getMessage('T', 0, 0, 10)).rejects.toMatchObject({ code: 'TIER_UNAVAILABLE', retriable: true });
    const firstLocal = (await store.getMessage('T', 0, 1_000, 1)).minOffset; // the queue still starts at 0
    expect(firstLocal).toBe(0);
    await store.putMessages(makeBatch('T', 0, ['while the tier is down']));
    store.flush();
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(0); // nothing is known tiered yet
    await expect(tier.uploadPendingNow()).rejects.toThrow(/upload failed/);

    manifest.listDown = false;
    await tier.uploadPendingNow();
    expect(await readFrom(store, 0)).toEqual([...bodies, 'while the tier is down']);
  });

  it('with durability s3, acks a send that asks for async after the write, and the others once the chunk is stored', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let atGate = 0;
    const { store } = await openTiered({
      s3Durability: true,
      // Write-ahead chunks wait at the gate: the store is "slow".
      objects: (local) =>
        Object.assign(Object.create(local) as ObjectStore, {
          putObject: async (...a: Parameters<ObjectStore['putObject']>) => (atGate++, await gate, local.putObject(...a)),
        }),
    });
    expect(store.durability).toBe('s3');
    const fast = await store.putMessages(makeBatch('T', 0, ['fast']), { durability: 'async' });
    expect(fast.status).toBe('PUT_OK');
    let durableDone = false;
    const durable = store.putMessages(makeBatch('T', 0, ['durable'])).then((r) => ((durableDone = true), r));
    // Its chunk has gone to the store and hangs there: the send must not be answered yet.
    await vi.waitFor(() => expect(atGate).toBeGreaterThan(0), { timeout: 20_000, interval: 5 });
    await new Promise((r) => setImmediate(r));
    expect(durableDone).toBe(false);
    release();
    expect((await durable).status).toBe('PUT_OK');
  });
});
