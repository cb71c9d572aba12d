/**
 * A store whose local log comes back behind its tier (a power loss kept only synced bytes,
 * while the uploader tiered sealed segments from the page cache, or durability `s3` acked
 * from the write-ahead chunks) restores itself from the tier at open: every tiered (and,
 * for `s3`, every acknowledged) message stays readable at its offset, new sends get offsets
 * past what the tier holds, and the local files are kept in lost+found, not deleted.
 * The power loss is simulated by zeroing the log from some offset on, as the power-loss
 * layer (test/support/power-loss) leaves unsynced bytes, and dropping the checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { DefaultMessageStore } from '../store/message-store';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import { probeLocalLogEnd } from './local-log-end';
import { LOST_AND_FOUND } from './store-set-aside';
import { TOMBSTONES_PREFIX } from './tier-tombstones';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';

const fx = useTempDir('cirrusmq-behind-tier-');
const SEGMENT = 4096;
const storeDir = () => path.join(fx.dir, 'store');

async function openTiered(options: { s3?: boolean } = {}) {
  const objects = new LocalObjectStore(path.join(fx.dir, 'tier'), 'C/broker-a/');
  const tier = new TieredStorage(
    objects,
    new LocalTierManifest(path.join(fx.dir, 'tier', '_manifest')),
    {
      storeDir: storeDir(),
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 16,
      read: { blockBytes: 1024, cacheBytes: 8 * 1024, readAheadBlocks: 1 },
      upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false },
      wal: options.s3 ? { windowMs: 5, maxChunkBytes: 64 * 1024, maxInFlight: 2, ackTimeoutMs: 5_000 } : undefined,
    },
    silentLogger,
  );
  const store = new DefaultMessageStore(
    { storeDir: storeDir(), commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, flushIntervalMs: 3_600_000, cleanIntervalMs: 3_600_000 },
    silentLogger,
    tier,
  );
  fx.onCleanup(() => store.shutdown());
  await store.open();
  return { store, tier, objects };
}

interface Sent {
  topic: string;
  body: string;
  key: string;
  offset: number;
  queueOffset: number;
}

async function fill(store: DefaultMessageStore, topic: string, n: number, from = 0): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let i = from; i < from + n; i++) {
    const body = `${topic}-${i}-${'z'.repeat(150 + (i % 40))}`;
    const r = await store.putMessages(makeBatch(topic, 0, [{ body, keys: [`${topic}-k${i}`] }]));
    expect(r.status).toBe('PUT_OK');
    sent.push({ topic, body, key: `${topic}-k${i}`, offset: r.commitLogOffset, queueOffset: r.queueOffset });
  }
  return sent;
}

/** What a power loss leaves of an unsynced log: its files, zeros from `from` on; no checkpoint. */
function zeroLogFrom(from: number): void {
  const dir = path.join(storeDir(), 'commitlog');
  for (const name of fs.readdirSync(dir)) {
    const start = Number(name);
    const size = fs.statSync(path.join(dir, name)).size;
    if (start + size <= from) continue;
    const fd = fs.openSync(path.join(dir, name), 'r+');
    const at = Math.max(0, from - start);
    fs.writeSync(fd, Buffer.alloc(size - at), 0, size - at, at);
    fs.closeSync(fd);
  }
  fs.rmSync(path.join(storeDir(), 'checkpoint'), { force: true });
}

async function expectReadable(store: DefaultMessageStore, sent: Sent[]): Promise<void> {
  for (const m of sent) {
    const got = await store.getMessage(m.topic, 0, m.queueOffset, 1);
    const [rec] = decodeRecords(got.records);
    expect([rec?.body.toString(), rec?.commitLogOffset], `${m.topic} queue offset ${m.queueOffset}`).toEqual([m.body, m.offset]);
    const byKey = decodeRecords((await store.queryMessage(m.topic, m.key, 10, 0, Number.MAX_SAFE_INTEGER)).records);
    expect(
      byKey.map((r) => [r.body.toString(), r.commitLogOffset]),
      m.key,
    ).toEqual([[m.body, m.offset]]);
  }
}

function keptFolders(): string[] {
  const dir = path.join(storeDir(), LOST_AND_FOUND);
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => path.join(dir, n)) : [];
}

describe('a store whose local log came back behind its tier', () => {
  it('ASYNC_FLUSH: a log lost below the tiered end restores from the tier, every tiered message at its offset, new sends past the tier', async () => {
    const first = await openTiered();
    const sent = await fill(first.store, 'T', 80);
    await first.tier.uploadPendingNow();
    const tieredEnd = first.tier.stats().tieredMaxOffset;
    const tiered = sent.filter((m) => m.offset < tieredEnd);
    expect(tiered.length).toBeGreaterThan(40);
    await first.store.simulateCrash();
    // Only the first segment and a half reached the disk.
    zeroLogFrom(SEGMENT + SEGMENT / 2);
    expect(probeLocalLogEnd(storeDir(), SEGMENT).end).toBeLessThan(tieredEnd);

    const { store } = await openTiered();
    expect(store.commitLog.getMinOffset()).toBe(tieredEnd);
    await expectReadable(store, tiered);
    const next = await store.putMessages(makeBatch('T', 0, ['after the power loss']));
    expect(next.commitLogOffset).toBe(tieredEnd);
    expect(next.queueOffset).toBe(tiered.length);
    // The local files were moved aside, not deleted.
    const kept = keptFolders();
    expect(kept.length).toBe(1);
    expect(fs.readdirSync(path.join(kept[0]!, 'commitlog')).length).toBeGreaterThan(2);

    // A restart of the restored store is an ordinary one: nothing more is set aside.
    await store.shutdown();
    const again = await openTiered();
    expect(keptFolders().length).toBe(1);
    await expectReadable(again.store, tiered);
    expect(again.store.commitLog.getMaxOffset()).toBeGreaterThan(tieredEnd);
  });

  it('ASYNC_FLUSH: a log of zeros (nothing was synced) restores too, and a delete acknowledged here is not undone by the tier', async () => {
    const first = await openTiered();
    const kept = await fill(first.store, 'T', 50);
    await fill(first.store, 'D', 20);
    await first.tier.uploadPendingNow();
    const tieredEnd = first.tier.stats().tieredMaxOffset;
    await first.store.deleteTopic('D');
    await first.store.simulateCrash();
    // The tier's copy of the deleted topics never got this delete.
    for (const key of await first.objects.list(TOMBSTONES_PREFIX)) await first.objects.deleteObjects([key]);
    zeroLogFrom(0);

    const { store } = await openTiered();
    expect(store.commitLog.getMinOffset()).toBe(tieredEnd);
    await expectReadable(
      store,
      kept.filter((m) => m.offset < tieredEnd),
    );
    expect((await store.getMessage('D', 0, 0, 100)).count).toBe(0);
    // The topic created again starts empty, and its new records are not taken for deleted ones.
    const d = await store.putMessages(makeBatch('D', 0, ['D again']));
    expect(d.queueOffset).toBe(0);
    expect(decodeRecords((await store.getMessage('D', 0, 0, 10)).records).map((r) => r.body.toString())).toEqual(['D again']);
    // Also after a crash, whose replay asks the tombstones about every record it indexes.
    store.flush();
    await store.simulateCrash();
    const again = await openTiered();
    expect(decodeRecords((await again.store.getMessage('D', 0, 0, 10)).records).map((r) => r.body.toString())).toEqual(['D again']);
    expect(keptFolders().length).toBe(1);
  });

  it('durability s3: a log behind the write-ahead log restores by itself with every acknowledged message', async () => {
    const first = await openTiered({ s3: true });
    const sent = await fill(first.store, 'T', 40);
    await first.tier.uploadPendingNow();
    sent.push(...(await fill(first.store, 'T', 30, 40)));
    const tieredEnd = first.tier.stats().tieredMaxOffset;
    const walEnd = first.store.commitLog.getMaxOffset();
    expect(sent.filter((m) => m.offset >= tieredEnd).length).toBeGreaterThan(10);
    await first.store.simulateCrash();
    // The disk kept less than the tier and the write-ahead log: the last 3 segments are zeros.
    zeroLogFrom(walEnd - 3 * SEGMENT);

    const { store, tier } = await openTiered({ s3: true });
    await expectReadable(store, sent);
    expect(store.commitLog.getMaxOffset()).toBe(walEnd);
    const next = await store.putMessages(makeBatch('T', 0, ['after']));
    expect(next.status).toBe('PUT_OK');
    expect(next.commitLogOffset).toBe(walEnd);
    expect(tier.stats().wal).toMatchObject({ pendingBytes: 0 });
    expect(keptFolders().length).toBe(1);
  });

  it('a log that reaches the tier is served as it is: nothing is set aside', async () => {
    const first = await openTiered({ s3: true });
    const sent = await fill(first.store, 'T', 60);
    await first.tier.uploadPendingNow();
    await first.store.simulateCrash();
    const { store } = await openTiered({ s3: true });
    expect(keptFolders()).toEqual([]);
    expect(store.commitLog.getMinOffset()).toBe(0);
    await expectReadable(store, sent);
  });
});
