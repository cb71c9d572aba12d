/**
 * Recovery after a crash, from the checkpoint. Each test writes, takes a checkpoint
 * (flushRound), writes more, then leaves the files as kill -9 does (simulateCrash) and
 * damages what a crash can damage: the tail written after the last checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords, Field, type MessageExt } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { CQ_STORE_UNIT_SIZE } from './consume-queue';
import type { DefaultMessageStore } from './message-store';
import { CHECKPOINT_FILE, StoreCheckpoint } from './store-checkpoint';

const SEGMENT = 64 * 1024;
const fx = useStoreFixture({ commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 64, flushIntervalMs: 60_000 });
const openStore = fx.open;

async function crash(store: DefaultMessageStore): Promise<void> {
  await store.simulateCrash();
  fx.forget(store);
}

async function readAll(store: DefaultMessageStore, topic: string, queueId: number): Promise<MessageExt[]> {
  return decodeRecords((await store.getMessage(topic, queueId, 0, 10_000)).records);
}

const bodiesOf = (msgs: MessageExt[]) => msgs.map((m) => m.body.toString());
const seg0 = () => path.join(fx.dir, 'commitlog', '00000000000000000000');

function overwrite(file: string, position: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, position);
  fs.closeSync(fd);
}

/** Puts `n` messages "{prefix}{i}" one batch each; returns their CommitLog offsets. */
async function putEach(store: DefaultMessageStore, prefix: string, n: number, queueId = 0): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) offsets.push((await store.putMessages(makeBatch('TopicA', queueId, [`${prefix}${i}-${'p'.repeat(40)}`]))).commitLogOffset);
  return offsets;
}

describe('recovery from the checkpoint', () => {
  it('verifies only the log written after the checkpoint, and drops a torn tail there', async () => {
    const store = openStore();
    await putEach(store, 'a', 5);
    await store.flushRound();
    const checkpointed = store.stats().checkpointPhysicOffset;
    expect(checkpointed).toBe(store.stats().commitLogMaxOffset);
    await putEach(store, 'b', 5);
    const end = store.stats().commitLogMaxOffset;
    await crash(store);
    overwrite(seg0(), end - 3, Buffer.alloc(3)); // the last write, torn
    const again = openStore();
    expect(again.commitLog.lastRecovery).toEqual({ fromOffset: checkpointed, endOffset: expect.any(Number) });
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((b) => b.slice(0, 2))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3']);
    expect((await again.putMessages(makeBatch('TopicA', 0, ['next']))).queueOffset).toBe(9);
  });

  it('drops exactly the records from a garbled one on, and serves the rest', async () => {
    const store = openStore();
    await putEach(store, 'a', 3);
    await store.flushRound();
    const b = await putEach(store, 'b', 5);
    await crash(store);
    overwrite(seg0(), b[2]! + Field.BODY + 1, Buffer.from('#')); // b2's body: CRC fails
    const again = openStore();
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((x) => x.slice(0, 2))).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    expect(again.stats().commitLogMaxOffset).toBe(b[2]);
  });

  it('reopens the key index when a garbled record lies below what the index had persisted', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('TopicA', 0, [{ body: 'k-a', keys: ['ka'] }]));
    await store.flushRound(); // the checkpoint covers only k-a
    const b = (await store.putMessages(makeBatch('TopicA', 0, [{ body: 'k-b', keys: ['kb'] }]))).commitLogOffset;
    await store.putMessages(makeBatch('TopicA', 0, [{ body: 'k-c', keys: ['kc'] }]));
    await store.indexService.persistAsync(); // the index, on its own timer, persists past b
    expect(store.indexService.maxPhysicalOffset()).toBeGreaterThan(b);
    await crash(store);
    overwrite(seg0(), b + Field.BODY + 1, Buffer.from('#'));
    const again = openStore();
    expect(again.stats().commitLogMaxOffset).toBe(b);
    expect(again.indexService.maxPhysicalOffset()).toBeLessThanOrEqual(b);
    expect((await again.queryMessage('TopicA', 'ka', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(1);
    expect((await again.queryMessage('TopicA', 'kb', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(0);
    // A new record at b's old offset is indexed under its own key, not taken as indexed already.
    await again.putMessages(makeBatch('TopicA', 0, [{ body: 'k-d', keys: ['kd'] }]));
    expect((await again.queryMessage('TopicA', 'kd', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(1);
    expect((await again.queryMessage('TopicA', 'kc', 10, 0, Number.MAX_SAFE_INTEGER)).count).toBe(0);
  });

  it('handles a log file cut short (the checkpoint then lies past the files)', async () => {
    const store = openStore();
    await putEach(store, 'a', 3);
    await store.flushRound();
    const b = await putEach(store, 'b', 3);
    const end = store.stats().commitLogMaxOffset;
    await store.shutdown(); // a clean stop: the checkpoint covers everything...
    fs.truncateSync(seg0(), end - 10); // ...then the file loses its last bytes
    const again = openStore();
    expect(again.commitLog.lastRecovery?.fromOffset).toBe(0);
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((x) => x.slice(0, 2))).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    expect(again.stats().commitLogMaxOffset).toBe(b[2]);
  });

  it('verifies the whole log when the checkpoint is missing', async () => {
    const store = openStore();
    const a = await putEach(store, 'a', 4);
    await store.flushRound();
    await crash(store);
    fs.rmSync(path.join(fx.dir, CHECKPOINT_FILE));
    overwrite(seg0(), a[1]! + Field.BODY, Buffer.from('#')); // before the old checkpoint: found now
    const again = openStore();
    expect(again.commitLog.lastRecovery).toEqual({ fromOffset: 0, endOffset: a[1] });
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((x) => x.slice(0, 2))).toEqual(['a0']);
  });

  it('crosses segments when the checkpoint is in an earlier one', async () => {
    const store = openStore({ commitLogSegmentBytes: 4096 });
    await putEach(store, 'a', 10);
    await store.flushRound();
    const checkpointed = store.stats().checkpointPhysicOffset;
    await putEach(store, 'b', 120, 1);
    expect(store.commitLog.mappedFileQueue.mappedFiles.length).toBeGreaterThan(4);
    const last = store.commitLog.mappedFileQueue.getLastMappedFile()!;
    const lastFile = last.fileName;
    const lastPos = last.wrotePosition;
    await crash(store);
    overwrite(lastFile, lastPos - 1, Buffer.from([0x7f]));
    const again = openStore({ commitLogSegmentBytes: 4096 });
    expect(again.commitLog.lastRecovery?.fromOffset).toBe(checkpointed);
    expect(await readAll(again, 'TopicA', 0)).toHaveLength(10);
    const q1 = await readAll(again, 'TopicA', 1);
    expect(q1.map((m) => m.queueOffset)).toEqual(Array.from({ length: 119 }, (_, i) => i));
    expect(bodiesOf(q1).at(-1)!.startsWith('b118')).toBe(true);
  });

  it('verifies the record that holds the checkpoint when the checkpoint is not on a record boundary', async () => {
    const store = openStore();
    const a = await putEach(store, 'a', 4);
    await store.flushRound();
    await crash(store);
    // A checkpoint that points into the middle of a3: the record there cannot verify.
    const cp = new StoreCheckpoint(fx.dir);
    cp.writeSync({ physicMsgTimestamp: 0, physicOffset: a[3]! + 7, logicsOffset: a[3]!, indexOffset: a[3]! });
    cp.close();
    const again = openStore();
    // The walk starts at the replay's start (a3's first byte, a record boundary), so a3 is verified whole.
    expect(again.commitLog.lastRecovery?.fromOffset).toBe(a[3]);
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((x) => x.slice(0, 2))).toEqual(['a0', 'a1', 'a2', 'a3']);
  });

  it('rebuilds ConsumeQueue units lost after the checkpoint in one queue while another kept its own', async () => {
    const store = openStore();
    for (let i = 0; i < 4; i++) {
      await putEach(store, `q0-${i}-`, 1, 0);
      await putEach(store, `q1-${i}-`, 1, 1);
    }
    await store.flushRound();
    for (let i = 4; i < 8; i++) {
      await putEach(store, `q1-${i}-`, 1, 1);
      await putEach(store, `q0-${i}-`, 1, 0);
    }
    await crash(store);
    // Queue 1 loses its last three units (pages never written back); queue 0 has all of
    // its own, and holds the highest CommitLog offset: the checkpoint, not the newest unit,
    // says where the replay starts.
    const q1File = path.join(fx.dir, 'consumequeue', 'TopicA', '1', '00000000000000000000');
    overwrite(q1File, 5 * CQ_STORE_UNIT_SIZE, Buffer.alloc(3 * CQ_STORE_UNIT_SIZE));
    const again = openStore();
    expect((await readAll(again, 'TopicA', 1)).map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((await readAll(again, 'TopicA', 0)).map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((await again.putMessages(makeBatch('TopicA', 1, ['x']))).queueOffset).toBe(8);
  });

  it('finds a hole a crash left in a ConsumeQueue after the checkpoint, not just its end', async () => {
    const store = openStore();
    await putEach(store, 'a', 4);
    await store.flushRound();
    await putEach(store, 'b', 4);
    await crash(store);
    // Unit 5 (b1) never reached the disk, units 6 and 7 did: the queue must end at 5, and
    // the replay from the checkpoint puts b1..b3 back.
    const cqFile = path.join(fx.dir, 'consumequeue', 'TopicA', '0', '00000000000000000000');
    overwrite(cqFile, 5 * CQ_STORE_UNIT_SIZE, Buffer.alloc(CQ_STORE_UNIT_SIZE));
    const again = openStore();
    const msgs = await readAll(again, 'TopicA', 0);
    expect(msgs.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(bodiesOf(msgs).map((x) => x.slice(0, 2))).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
  });

  it('drops ConsumeQueue units that point past the recovered log', async () => {
    const store = openStore();
    await putEach(store, 'a', 2);
    await store.flushRound();
    const b = await putEach(store, 'b', 3);
    await crash(store);
    // The log loses b1 and b2 (their pages never reached the disk), the ConsumeQueue kept them.
    overwrite(seg0(), b[1]!, Buffer.alloc(store.stats().commitLogMaxOffset - b[1]!));
    const again = openStore();
    expect((await again.getMessage('TopicA', 0, 0, 100)).maxOffset).toBe(3);
    expect((await again.putMessages(makeBatch('TopicA', 0, ['c']))).queueOffset).toBe(3);
    expect(bodiesOf(await readAll(again, 'TopicA', 0)).map((x) => x.slice(0, 2))).toEqual(['a0', 'a1', 'b0', 'c']);
  });

  it('SYNC_FLUSH: every acknowledged put survives a crash, with checkpoints running', async () => {
    const store = openStore({ flushDiskType: 'SYNC_FLUSH', flushIntervalMs: 5 });
    const acked: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) {
          const body = `w${w}-${i}`;
          const r = await store.putMessages(makeBatch('TopicA', w % 2, [body]));
          if (r.status === 'PUT_OK') acked.push(`${w % 2}:${r.queueOffset}:${body}`);
        }
      }),
    );
    await crash(store);
    const again = openStore({ flushDiskType: 'SYNC_FLUSH' });
    const perQueue = [await readAll(again, 'TopicA', 0), await readAll(again, 'TopicA', 1)];
    const stored = new Set(perQueue.flatMap((msgs, q) => msgs.map((m) => `${q}:${m.queueOffset}:${m.body.toString()}`)));
    expect(acked).toHaveLength(200);
    for (const a of acked) expect(stored.has(a)).toBe(true);
  });

  it('replays nothing after a clean shutdown', async () => {
    const store = openStore();
    await putEach(store, 'a', 5);
    const end = store.stats().commitLogMaxOffset;
    await store.shutdown();
    const again = openStore();
    expect(again.commitLog.lastRecovery).toEqual({ fromOffset: end, endOffset: end });
    expect(again.stats()).toMatchObject({ checkpointPhysicOffset: end, checkpointLogicsOffset: end });
    expect(await readAll(again, 'TopicA', 0)).toHaveLength(5);
  });
});
