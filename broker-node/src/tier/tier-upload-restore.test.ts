import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { DefaultMessageStore } from '../store/message-store';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import type { ObjectStore } from './object-store';
import type { TieredSegment, TierManifest } from './tier-manifest';
import { restoreFromTier } from './tier-restore';
import { indexExtractKey } from './segment-upload';
import { DEFAULT_TIER_UPLOAD_CONFIG, TierUploadService } from './tier-upload-service';
import { IndexExtractDamagedError, IndexExtractWriter, replayIndexExtract } from './index-extract';
import { scanSegmentFile } from './segment-file-scanner';
import { IndexService, buildIdKey, buildKey } from '../store/index/index-service';
import { TieredCommitLog } from './tiered-commit-log';

let dir: string;
let stores: DefaultMessageStore[] = [];
beforeEach(() => {
  dir = tempDir('cirrusmq-tier-up-');
});
afterEach(async () => {
  for (const s of stores) await s.shutdown();
  stores = [];
  removeDir(dir);
});

const SEGMENT = 4096;

function openStore(storeDir: string): DefaultMessageStore {
  const s = new DefaultMessageStore({ storeDir, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, flushIntervalMs: 50 }, silentLogger).load();
  stores.push(s);
  return s;
}

async function fill(store: DefaultMessageStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.putMessages(makeBatch('TopicT', i % 3, [{ body: `m${i}-${'y'.repeat(150)}`, tags: `T${i % 2}` }]));
}

/** A manifest whose commits can be made to fail. */
class FailingManifest implements TierManifest {
  failCommits = 0;
  constructor(private readonly inner: TierManifest) {}
  list() {
    return this.inner.list();
  }
  async commit(s: TieredSegment) {
    if (this.failCommits > 0) {
      this.failCommits--;
      throw new Error('injected manifest outage');
    }
    return this.inner.commit(s);
  }
  remove(o: number) {
    return this.inner.remove(o);
  }
}

function uploader(
  store: DefaultMessageStore,
  objects: ObjectStore,
  manifest: TierManifest,
  tiered = new TieredCommitLog(objects, { blockBytes: 1024, cacheBytes: 16 * 1024, readAheadBlocks: 1 }),
) {
  return new TierUploadService(
    store.commitLog,
    objects,
    manifest,
    tiered,
    { ...DEFAULT_TIER_UPLOAD_CONFIG, retryInitialDelayMs: 5, retryMaxDelayMs: 10 },
    {},
    silentLogger,
  );
}

describe('TierUploadService', () => {
  it('uploads every sealed segment in order, commits each after its objects, and leaves the active one', async () => {
    const store = openStore(path.join(dir, 'store'));
    await fill(store, 60);
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new LocalTierManifest(path.join(dir, 'manifest'));
    const up = uploader(store, objects, manifest);
    const sealed = store.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull());
    expect(sealed.length).toBeGreaterThan(2);
    expect(up.canDelete(sealed[0]!)).toBe(false);
    await up.pass();
    const entries = await manifest.list();
    expect(entries.map((e) => e.startOffset)).toEqual(sealed.map((f) => f.fileFromOffset));
    for (const e of entries) {
      expect(e.endOffset).toBe(e.startOffset + SEGMENT);
      const obj = await objects.getObject(e.commitLogKey);
      expect(obj.length).toBe(e.objectSize);
      const local = fs.readFileSync(path.join(dir, 'store', 'commitlog', String(e.startOffset).padStart(20, '0')));
      expect(obj.equals(local.subarray(0, e.objectSize))).toBe(true);
    }
    expect(up.canDelete(sealed[0]!)).toBe(true);
    expect(up.pendingSegments()).toEqual([]);
    expect(up.lagSeconds()).toBe(0);
    expect(up.lagBytes()).toBe(store.commitLog.getMaxOffset() - entries.at(-1)!.endOffset);
  });

  it('keeps a segment untiered while the manifest commit fails, and tiers it on a later pass', async () => {
    const store = openStore(path.join(dir, 'store'));
    await fill(store, 30);
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new FailingManifest(new LocalTierManifest(path.join(dir, 'manifest')));
    manifest.failCommits = 1;
    const up = uploader(store, objects, manifest);
    await up.pass();
    expect(up.stats.uploadFailures).toBe(1);
    const first = store.commitLog.mappedFileQueue.mappedFiles[0]!;
    expect(up.canDelete(first)).toBe(false);
    expect(await manifest.list()).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    await up.pass();
    expect(up.canDelete(first)).toBe(true);
  });
});

describe('restoreFromTier', () => {
  it('rebuilds the ConsumeQueues of tiered segments on an empty disk and continues the log after them', async () => {
    const store = openStore(path.join(dir, 'store'));
    await fill(store, 60);
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new LocalTierManifest(path.join(dir, 'manifest'));
    await uploader(store, objects, manifest).pass();
    const entries = await manifest.list();
    const tieredEnd = entries.at(-1)!.endOffset;
    const expected = [0, 1, 2].map((q) => store.findConsumeQueue('TopicT', q).getIndexBuffer(0, 1000)!);

    const fresh = path.join(dir, 'fresh');
    const result = await restoreFromTier(
      objects,
      manifest,
      { storeDir: fresh, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, replayWal: false },
      silentLogger,
    );
    expect(result).toMatchObject({ restored: true, tieredSegments: entries.length, tieredEnd, logEnd: tieredEnd });
    const restored = openStore(fresh);
    expect(restored.commitLog.getMinOffset()).toBe(tieredEnd);
    expect(restored.commitLog.getMaxOffset()).toBe(tieredEnd);
    for (const q of [0, 1, 2]) {
      const cq = restored.findConsumeQueue('TopicT', q);
      // Units of tiered records are back, byte for byte; units of the lost active segment are not.
      const units = cq.getIndexBuffer(0, 1000)!;
      expect(units.length).toBeGreaterThan(0);
      expect(expected[q]!.subarray(0, units.length).equals(units)).toBe(true);
      expect(units.readBigInt64BE(units.length - 20) < BigInt(tieredEnd)).toBe(true);
    }
    // New appends go after the tiered log, each queue continuing its offsets.
    const before = restored.findConsumeQueue('TopicT', 0).getMaxOffsetInQueue();
    const put = await restored.putMessages(makeBatch('TopicT', 0, ['after restore']));
    expect(put.commitLogOffset).toBe(tieredEnd);
    expect(put.queueOffset).toBe(before);
  });

  /** Every record the store holds below `end`: offset, id, keys. */
  async function storedBelow(store: DefaultMessageStore, end: number) {
    const out: { offset: number; id: string; key: string; queueId: number }[] = [];
    for (const q of [0, 1, 2]) {
      for (let next = 0; ; ) {
        const got = await store.getMessage('TopicK', q, next, 32);
        if (got.count === 0) break;
        for (const m of decodeRecords(got.records))
          if (m.commitLogOffset < end) out.push({ offset: m.commitLogOffset, id: m.messageId, key: m.keys.at(-1)!, queueId: q });
        next = got.nextOffset;
      }
    }
    return out.sort((a, b) => a.offset - b.offset);
  }

  /** The candidate offsets a fresh IndexService over `storeDir`'s restored files gives for every record. */
  function expectIndexed(storeDir: string, records: { offset: number; id: string; key: string }[]) {
    const index = new IndexService(storeDir, { hashSlotNum: 64, indexNum: 256, persistIntervalMs: 1_000 }, silentLogger);
    index.load(Number.MAX_SAFE_INTEGER);
    try {
      for (const r of records) {
        expect([...index.candidates(buildIdKey(r.id), 0, Number.MAX_SAFE_INTEGER)], `id ${r.id}`).toContain(r.offset);
        expect([...index.candidates(buildKey('TopicK', r.key), 0, Number.MAX_SAFE_INTEGER)], `key ${r.key}`).toContain(r.offset);
      }
    } finally {
      void index.shutdown();
    }
  }

  async function tieredWithKeys(n: number) {
    const store = openStore(path.join(dir, 'store'));
    for (let i = 0; i < n; i++) await store.putMessages(makeBatch('TopicK', i % 3, [{ body: `m${i}-${'y'.repeat(150)}`, keys: [`key-${i}`] }]));
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new LocalTierManifest(path.join(dir, 'manifest'));
    await uploader(store, objects, manifest).pass();
    const entries = await manifest.list();
    const records = await storedBelow(store, entries.at(-1)!.endOffset);
    expect(records.length).toBeGreaterThan(20);
    return { objects, manifest, entries, records };
  }

  const restoreOptions = (storeDir: string) => ({
    storeDir,
    commitLogSegmentBytes: SEGMENT,
    consumeQueueUnitsPerFile: 16,
    replayWal: false,
    index: { hashSlotNum: 16, indexNum: 32 },
  });

  it('restores the key index of every tiered record from the index extracts (one key and one id each)', async () => {
    const { objects, manifest, records } = await tieredWithKeys(60);
    const fresh = path.join(dir, 'fresh');
    const result = await restoreFromTier(objects, manifest, restoreOptions(fresh), silentLogger);
    expect(result).toMatchObject({ indexEntries: 2 * records.length, indexRebuiltSegments: 0 });
    // A file of indexNum 32 holds 15 records of two entries: the restore rolled over several files.
    expect(fs.readdirSync(path.join(fresh, 'index')).length).toBeGreaterThan(2);
    expectIndexed(fresh, records);
  });

  it('rebuilds the key index of segments uploaded without index extracts (or with damaged ones) by reading the segments', async () => {
    const { objects, manifest, entries, records } = await tieredWithKeys(60);
    // Older uploads: no index extract. And one damaged in its block.
    await objects.deleteObjects(entries.slice(1).map((e) => indexExtractKey(e.startOffset)));
    const damagedKey = indexExtractKey(entries[0]!.startOffset);
    const bytes = await objects.getObject(damagedKey);
    bytes[bytes.length - 10]! ^= 0xff;
    await objects.deleteObjects([damagedKey]); // a tier store never overwrites an object with other bytes
    await objects.putObject(damagedKey, bytes);
    const fresh = path.join(dir, 'fresh');
    const result = await restoreFromTier(objects, manifest, restoreOptions(fresh), silentLogger);
    expect(result).toMatchObject({ indexEntries: 2 * records.length, indexRebuiltSegments: entries.length });
    expectIndexed(fresh, records);
  });

  it('reads an index extract of many blocks, and stops at the first damaged block having inserted only the good ones', async () => {
    const store = openStore(path.join(dir, 'store'));
    for (let i = 0; i < 12; i++) await store.putMessages(makeBatch('TopicK', 0, [{ body: `m${i}`, keys: [`a${i}`, `b${i}`] }]));
    const file = store.commitLog.mappedFileQueue.mappedFiles[0]!;
    // Blocks of 5 entries: a record's 3 entries (2 keys, the id) often cross a block boundary.
    const writer = await IndexExtractWriter.create(path.join(dir, 'spill', 'x'), 5);
    await scanSegmentFile(file.fileName, 0, file.fileSize, (buf, pos, shape, phy) => writer.add(buf, pos, shape, phy));
    const size = await writer.finish();
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    await objects.putObject('index/x', fs.readFileSync(writer.filePath).subarray(0, size));
    await writer.discard();
    const records = await storedBelow(store, SEGMENT);
    expect(records.length).toBe(12);

    const fresh = path.join(dir, 'fresh');
    fs.mkdirSync(fresh);
    const index = new IndexService(fresh, { hashSlotNum: 64, indexNum: 256, persistIntervalMs: 1_000 }, silentLogger);
    index.load(Number.MAX_SAFE_INTEGER);
    expect(await replayIndexExtract(objects, 'index/x', 0, SEGMENT, index)).toEqual({ entries: 36, records: 12 });
    await index.shutdown();
    expectIndexed(fresh, records);

    // Damage the 4th block (entries 15..19): the records of blocks 0-2 are in, none after.
    const bytes = await objects.getObject('index/x');
    bytes[16 + 3 * (5 * 20 + 4) + 7]! ^= 0x01;
    await objects.deleteObjects(['index/x']);
    await objects.putObject('index/x', bytes);
    const again = path.join(dir, 'again');
    fs.mkdirSync(again);
    const partial = new IndexService(again, { hashSlotNum: 64, indexNum: 256, persistIntervalMs: 1_000 }, silentLogger);
    partial.load(Number.MAX_SAFE_INTEGER);
    await expect(replayIndexExtract(objects, 'index/x', 0, SEGMENT, partial)).rejects.toBeInstanceOf(IndexExtractDamagedError);
    const found = records.map((r) => [...partial.candidates(buildIdKey(r.id), 0, Number.MAX_SAFE_INTEGER)].includes(r.offset));
    // Entries 0..14 are records 0..4 (3 each). Record 4 ends block 2, but whether its entries
    // go on in block 3 is unknown until block 3 checks out: it is left to the rebuild, as 5.. are.
    expect(found).toEqual(records.map((_, i) => i < 4));
    await partial.shutdown();
  });

  it('does nothing when the tier is empty', async () => {
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new LocalTierManifest(path.join(dir, 'manifest'));
    const r = await restoreFromTier(
      objects,
      manifest,
      { storeDir: path.join(dir, 's'), commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, replayWal: true },
      silentLogger,
    );
    expect(r.restored).toBe(false);
  });
});
