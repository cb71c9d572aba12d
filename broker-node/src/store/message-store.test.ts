import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords } from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import type { DefaultMessageStore } from './message-store';

const fx = useStoreFixture({ commitLogSegmentBytes: 4096, consumeQueueUnitsPerFile: 8, flushIntervalMs: 10 });
const openStore = fx.open;
const reopen = fx.reopen;

async function bodies(store: DefaultMessageStore, topic: string, queueId: number, offset = 0, max = 1000): Promise<string[]> {
  return decodeRecords((await store.getMessage(topic, queueId, offset, max)).records).map((m) => m.body.toString());
}

describe('DefaultMessageStore', async () => {
  it('puts a batch and reads it back by queue offset', async () => {
    const store = openStore();
    const put = await store.putMessages(makeBatch('TopicA', 1, [{ body: 'a', tags: 'TagA' }, 'b', 'c']));
    expect(put).toEqual({ status: 'PUT_OK', queueOffset: 0, count: 3, commitLogOffset: 0, commitLogEnd: store.stats().commitLogMaxOffset });
    const got = await store.getMessage('TopicA', 1, 0, 32);
    expect(got).toMatchObject({ count: 3, nextOffset: 3, minOffset: 0, maxOffset: 3 });
    const msgs = decodeRecords(got.records);
    expect(msgs.map((m) => [m.body.toString(), m.queueOffset, m.queueId])).toEqual([
      ['a', 0, 1],
      ['b', 1, 1],
      ['c', 2, 1],
    ]);
    expect(msgs[0]!.tags).toBe('TagA');
    expect(await store.getMessage('TopicA', 1, 1, 1)).toMatchObject({ count: 1, nextOffset: 2 });
  });

  it('keeps queue offsets contiguous per topic-queue while the CommitLog interleaves them', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('TopicA', 0, ['a0', 'a1']));
    await store.putMessages(makeBatch('TopicB', 0, ['b0']));
    expect((await store.putMessages(makeBatch('TopicA', 0, ['a2']))).queueOffset).toBe(2);
    expect((await store.putMessages(makeBatch('TopicA', 1, ['x0']))).queueOffset).toBe(0);
    expect((await store.putMessages(makeBatch('TopicB', 0, ['b1', 'b2']))).queueOffset).toBe(1);
    expect(await bodies(store, 'TopicA', 0)).toEqual(['a0', 'a1', 'a2']);
    expect(await bodies(store, 'TopicB', 0)).toEqual(['b0', 'b1', 'b2']);
    expect(decodeRecords((await store.getMessage('TopicB', 0, 0, 10)).records).map((m) => m.queueOffset)).toEqual([0, 1, 2]);
    expect(store.stats().putMessagesTotal).toBe(7);
  });

  it('answers empty reads past the end, before the start, and for unknown queues', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('TopicA', 0, ['a', 'b']));
    expect(await store.getMessage('TopicA', 0, 2, 32)).toMatchObject({ count: 0, nextOffset: 2, maxOffset: 2 });
    expect(await store.getMessage('TopicA', 0, 99, 32)).toMatchObject({ count: 0, nextOffset: 2, maxOffset: 2 });
    expect((await store.getMessage('TopicA', 0, 99, 32)).records.length).toBe(0);
    expect(await store.getMessage('Nope', 0, 5, 32)).toMatchObject({ count: 0, nextOffset: 0, maxOffset: 0 });
  });

  it('reads across ConsumeQueue files and CommitLog segments', async () => {
    const store = openStore({ commitLogSegmentBytes: 1024, consumeQueueUnitsPerFile: 4 });
    const all: string[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: 3 }, (_, j) => `m${i}-${j}-${'p'.repeat(50)}`);
      all.push(...batch);
      await store.putMessages(makeBatch('TopicA', 0, batch));
    }
    expect(store.commitLog.mappedFileQueue.mappedFiles.length).toBeGreaterThan(3);
    expect(await bodies(store, 'TopicA', 0)).toEqual(all);
    const page = await store.getMessage('TopicA', 0, 5, 7);
    expect(page).toMatchObject({ count: 7, nextOffset: 12 });
    expect(decodeRecords(page.records).map((m) => m.body.toString())).toEqual(all.slice(5, 12));
  });

  it('continues offsets after a reopen', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('TopicA', 0, ['a', 'b']));
    await store.putMessages(makeBatch('TopicB', 3, ['x']));
    const end = store.stats().commitLogMaxOffset;
    const again = await reopen();
    expect(again.stats().commitLogMaxOffset).toBe(end);
    const put = await again.putMessages(makeBatch('TopicA', 0, ['c']));
    expect(put).toEqual({ status: 'PUT_OK', queueOffset: 2, count: 1, commitLogOffset: end, commitLogEnd: again.stats().commitLogMaxOffset });
    expect((await again.putMessages(makeBatch('TopicB', 3, ['y']))).queueOffset).toBe(1);
    expect(await bodies(again, 'TopicA', 0)).toEqual(['a', 'b', 'c']);
  });

  // A crash leaves damage only after the last checkpoint (before it, everything was synced):
  // these put, checkpoint, put more, then "kill -9" (simulateCrash) and damage the tail.
  it('drops a torn tail record from the log and its ConsumeQueue, and reuses its offsets', async () => {
    const store = openStore({ flushIntervalMs: 60_000 });
    await store.putMessages(makeBatch('TopicA', 0, ['a', 'b']));
    await store.flushRound();
    await store.putMessages(makeBatch('TopicA', 0, ['c']));
    const end = store.stats().commitLogMaxOffset;
    await store.simulateCrash();
    const seg = path.join(fx.dir, 'commitlog', '00000000000000000000');
    const fd = fs.openSync(seg, 'r+');
    fs.writeSync(fd, Buffer.alloc(3), 0, 3, end - 3);
    fs.closeSync(fd);
    const again = await reopen();
    expect(await bodies(again, 'TopicA', 0)).toEqual(['a', 'b']);
    expect((await again.getMessage('TopicA', 0, 0, 10)).maxOffset).toBe(2);
    const put = await again.putMessages(makeBatch('TopicA', 0, ['d']));
    expect(put.queueOffset).toBe(2);
    expect(put.commitLogOffset).toBeLessThan(end);
    expect(await bodies(again, 'TopicA', 0)).toEqual(['a', 'b', 'd']);
  });

  it('drops the last record when its body is garbled (CRC)', async () => {
    const store = openStore({ flushIntervalMs: 60_000 });
    await store.putMessages(makeBatch('TopicA', 0, ['first']));
    await store.flushRound();
    await store.putMessages(makeBatch('TopicA', 0, ['second']));
    const second = decodeRecords((await store.getMessage('TopicA', 0, 1, 1)).records)[0]!;
    await store.simulateCrash();
    const fd = fs.openSync(path.join(fx.dir, 'commitlog', '00000000000000000000'), 'r+');
    fs.writeSync(fd, Buffer.from('?'), 0, 1, second.commitLogOffset + 64 + 1);
    fs.closeSync(fd);
    const again = await reopen();
    expect(await bodies(again, 'TopicA', 0)).toEqual(['first']);
    expect(again.stats().commitLogMaxOffset).toBe(second.commitLogOffset);
  });

  it('rebuilds the ConsumeQueues from the CommitLog when their files are deleted', async () => {
    const store = openStore({ commitLogSegmentBytes: 1024, consumeQueueUnitsPerFile: 4 });
    for (let i = 0; i < 6; i++) {
      await store.putMessages(makeBatch('TopicA', i % 2, [`a${i}`, `b${i}`]));
      await store.putMessages(makeBatch('TopicB', 0, [`c${i}-${'q'.repeat(100)}`]));
    }
    const expected = { a0: await bodies(store, 'TopicA', 0), a1: await bodies(store, 'TopicA', 1), b0: await bodies(store, 'TopicB', 0) };
    await store.shutdown();
    fs.rmSync(path.join(fx.dir, 'consumequeue'), { recursive: true });
    const again = await reopen({ commitLogSegmentBytes: 1024, consumeQueueUnitsPerFile: 4 });
    expect({ a0: await bodies(again, 'TopicA', 0), a1: await bodies(again, 'TopicA', 1), b0: await bodies(again, 'TopicB', 0) }).toEqual(expected);
    expect((await again.putMessages(makeBatch('TopicA', 1, ['next']))).queueOffset).toBe(6);
  });

  it('reputs only what a ConsumeQueue misses (its tail lost, the log intact)', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('TopicA', 0, ['a', 'b', 'c', 'd']));
    await store.shutdown();
    const cqFile = path.join(fx.dir, 'consumequeue', 'TopicA', '0', '00000000000000000000');
    const fd = fs.openSync(cqFile, 'r+');
    fs.ftruncateSync(fd, 2 * 20); // keep units 0 and 1 (the file regrows sparse on load)
    fs.ftruncateSync(fd, 8 * 20);
    fs.closeSync(fd);
    const again = await reopen();
    expect(await bodies(again, 'TopicA', 0)).toEqual(['a', 'b', 'c', 'd']);
    expect((await again.putMessages(makeBatch('TopicA', 0, ['e']))).queueOffset).toBe(4);
  });

  it('flushes on its timer and refuses work after shutdown', async () => {
    const store = openStore({ flushIntervalMs: 5 });
    await store.putMessages(makeBatch('TopicA', 0, ['a']));
    const file = store.commitLog.mappedFileQueue.getLastMappedFile()!;
    expect(file.flushedPosition).toBeLessThan(file.wrotePosition); // ASYNC_FLUSH: the put did not sync
    // Only the timer syncs here; how soon depends on the machine, so wait for it, not for a fixed time.
    await waitFor('the flush timer to sync the put', 20_000, async () => file.flushedPosition === file.wrotePosition, 5);
    await store.shutdown();
    await expect(store.putMessages(makeBatch('TopicA', 0, ['b']))).rejects.toThrow(/shut down/);
  });
});
