import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../client/src/logger';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { DefaultMessageStore } from '../store/message-store';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import type { ObjectBody, ObjectStore, PutObjectResult } from './object-store';
import type { TieredSegment, TierManifest } from './tier-manifest';
import { restoreFromTier } from './tier-restore';
import { DEFAULT_TIER_UPLOAD_CONFIG, TierUploadService } from './tier-upload-service';
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

function uploader(store: DefaultMessageStore, objects: ObjectStore, manifest: TierManifest, tiered = new TieredCommitLog(objects, { blockBytes: 1024, cacheBytes: 16 * 1024, readAheadBlocks: 1 })) {
  return new TierUploadService(store.commitLog, objects, manifest, tiered, { ...DEFAULT_TIER_UPLOAD_CONFIG, retryInitialDelayMs: 5, retryMaxDelayMs: 10 }, {}, silentLogger);
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
    const result = await restoreFromTier(objects, manifest, { storeDir: fresh, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, replayWal: false }, silentLogger);
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

  it('does nothing when the tier is empty', async () => {
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const manifest = new LocalTierManifest(path.join(dir, 'manifest'));
    const r = await restoreFromTier(objects, manifest, { storeDir: path.join(dir, 's'), commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, replayWal: true }, silentLogger);
    expect(r.restored).toBe(false);
  });
});

export type { ObjectBody, PutObjectResult };
