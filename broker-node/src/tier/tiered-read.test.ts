import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { CQ_STORE_UNIT_SIZE } from '../store/consume-queue';
import { DefaultMessageStore } from '../store/message-store';
import { BlockCache } from './block-cache';
import { ConsumeQueueExtractBuilder, decodeConsumeQueueExtract } from './consume-queue-extract';
import { LocalObjectStore } from './local-object-store';
import { scanSegmentFile } from './segment-file-scanner';
import { TieredCommitLog } from './tiered-commit-log';
import type { TieredSegment } from './tier-manifest';

let dir: string;
let store: DefaultMessageStore | undefined;
beforeEach(() => {
  dir = tempDir('cirrusmq-tier-read-');
});
afterEach(async () => {
  await store?.shutdown();
  store = undefined;
  removeDir(dir);
});

/** A store with a few sealed 4 KiB segments: messages of two queues interleaved. */
async function storeWithSealedSegments(): Promise<DefaultMessageStore> {
  store = new DefaultMessageStore(
    { storeDir: `${dir}/store`, commitLogSegmentBytes: 4096, consumeQueueUnitsPerFile: 64, flushIntervalMs: 50 },
    silentLogger,
  ).load();
  for (let i = 0; i < 40; i++) {
    await store.putMessages(makeBatch('TopicT', i % 2, [{ body: `m${i}-${'x'.repeat(100 + (i % 7) * 30)}`, tags: i % 3 === 0 ? 'TagA' : 'TagB' }]));
  }
  return store;
}

describe('segment scan and ConsumeQueue extract', () => {
  it('finds the data end of a sealed segment and extracts the units the ConsumeQueues hold', async () => {
    const s = await storeWithSealedSegments();
    const files = s.commitLog.mappedFileQueue.mappedFiles;
    expect(files.length).toBeGreaterThan(2);
    const seg = files[1]!;
    const builder = new ConsumeQueueExtractBuilder();
    const summary = await scanSegmentFile(seg.fileName, seg.fileFromOffset, seg.fileSize, (b, p, sh, ph) => builder.add(b, p, sh, ph), 512);
    expect(summary.records).toBeGreaterThan(3);
    expect(summary.dataBytes).toBeLessThanOrEqual(seg.fileSize);
    expect(summary.lastStoreTimestamp).toBeGreaterThanOrEqual(summary.firstStoreTimestamp);
    const runs = decodeConsumeQueueExtract(builder.encode());
    expect(runs.map((r) => r.queueId).sort()).toEqual([0, 1]);
    let units = 0;
    for (const run of runs) {
      const cq = s.findConsumeQueue('TopicT', run.queueId);
      // The extract's units are byte for byte those of the queue.
      expect(run.units.equals(cq.getIndexBuffer(run.firstQueueOffset, run.count)!)).toBe(true);
      units += run.count;
    }
    expect(units).toBe(summary.records);
  });

  it('refuses a segment with a garbled record', async () => {
    const s = await storeWithSealedSegments();
    const seg = s.commitLog.mappedFileQueue.mappedFiles[0]!;
    const fs = await import('node:fs');
    const fd = fs.openSync(seg.fileName, 'r+');
    fs.writeSync(fd, Buffer.from([0xff, 0xfe]), 0, 2, 100);
    fs.closeSync(fd);
    await expect(scanSegmentFile(seg.fileName, seg.fileFromOffset, seg.fileSize, () => {})).rejects.toThrow(/damaged/);
  });
});

describe('TieredCommitLog', () => {
  it('reads any byte range of tiered segments through blocks, across block edges, and reads ahead', async () => {
    const s = await storeWithSealedSegments();
    const objects = new LocalObjectStore(`${dir}/tier`, 'c/b/');
    const segments: TieredSegment[] = [];
    for (const f of s.commitLog.mappedFileQueue.mappedFiles.filter((m) => m.isFull())) {
      const summary = await scanSegmentFile(f.fileName, f.fileFromOffset, f.fileSize, () => {});
      const key = `commitlog/${f.fileFromOffset}`;
      const put = await objects.putObject(key, { filePath: f.fileName, start: 0, end: summary.dataBytes });
      segments.push({
        startOffset: f.fileFromOffset,
        endOffset: f.fileFromOffset + f.fileSize,
        commitLogKey: key,
        consumeQueueKey: 'x',
        objectSize: summary.dataBytes,
        crc32: put.crc32,
        firstStoreTimestamp: 0,
        lastStoreTimestamp: 0,
        tieredAt: 0,
      });
    }
    const tiered = new TieredCommitLog(objects, { blockBytes: 1000, cacheBytes: 8000, readAheadBlocks: 2 });
    tiered.setSegments(segments.slice().reverse());
    expect(tiered.getMinOffset()).toBe(0);
    expect(tiered.getMaxOffset()).toBe(segments.at(-1)!.endOffset);
    // Every record of queue 0 through the tier equals the local bytes.
    const cq = s.findConsumeQueue('TopicT', 0);
    const units = cq.getIndexBuffer(0, 100)!;
    let compared = 0;
    for (let p = 0; p < units.length; p += CQ_STORE_UNIT_SIZE) {
      const offset = Number(units.readBigInt64BE(p));
      const size = units.readInt32BE(p + 8);
      if (!tiered.findSegment(offset)) continue;
      const got = Buffer.alloc(size);
      await tiered.readInto(offset, size, got, 0);
      expect(got.equals(s.commitLog.getMessage(offset, size)!)).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(5);
    expect(tiered.cache.stats.prefetches).toBeGreaterThan(0);
    expect(tiered.cache.stats.bytes).toBeLessThanOrEqual(8000);
    await expect(tiered.readInto(tiered.getMaxOffset() + 10, 10, Buffer.alloc(10), 0)).rejects.toMatchObject({ code: 'TIER_OBJECT_NOT_FOUND' });
  });
});

describe('BlockCache', () => {
  it('shares a fetch in flight, keeps under its bound and evicts the least recently used', async () => {
    const cache = new BlockCache(300);
    let fetches = 0;
    const fetch = (n: number) => () => {
      fetches++;
      return Promise.resolve(Buffer.alloc(100, n));
    };
    await Promise.all([cache.get('a', fetch(1)), cache.get('a', fetch(1))]);
    expect(fetches).toBe(1);
    await cache.get('b', fetch(2));
    await cache.get('c', fetch(3));
    await cache.get('a', fetch(1)); // a is now the most recent
    await cache.get('d', fetch(4)); // evicts b
    expect(cache.has('b')).toBe(false);
    expect(cache.has('a')).toBe(true);
    expect(cache.stats.bytes).toBe(300);
    expect(cache.hitRatio()).toBeGreaterThan(0);
  });
});
