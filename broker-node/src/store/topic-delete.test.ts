/**
 * Deleting a topic (DefaultMessageStore.deleteTopic, topic-tombstones.ts): its queues and
 * index entries go and a topic of the same name starts at offset 0, through a clean restart,
 * a crash (the replay re-dispatches the log), a ConsumeQueue rebuild, and a crash inside the
 * delete itself. The old records stay in the CommitLog throughout: only the tombstone keeps
 * them out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import type { DefaultMessageStore } from './message-store';
import { TOMBSTONE_FILE, readTombstoneFile } from './topic-tombstones';

const fx = useStoreFixture({ commitLogSegmentBytes: 64 * 1024, consumeQueueUnitsPerFile: 64, flushIntervalMs: 60_000 });

async function bodies(store: DefaultMessageStore, topic: string, queueId: number): Promise<string[]> {
  return decodeRecords((await store.getMessage(topic, queueId, 0, 1000)).records).map((m) => m.body.toString());
}

async function crash(store: DefaultMessageStore): Promise<void> {
  await store.simulateCrash();
  fx.forget(store);
}

/** Three old messages on queues 0 and 1 of T (with keys), one of Other. */
async function putOld(store: DefaultMessageStore): Promise<string[]> {
  const r = await store.putMessages(
    makeBatch('T', 0, [
      { body: 'old0', keys: ['k'] },
      { body: 'old1', keys: ['k'] },
      { body: 'old2', keys: ['k'] },
    ]),
  );
  await store.putMessages(makeBatch('T', 1, ['old-q1']));
  await store.putMessages(makeBatch('Other', 0, ['keep']));
  expect(r.queueOffset).toBe(0);
  const ids = decodeRecords((await store.getMessage('T', 0, 0, 10)).records).map((m) => m.messageId);
  expect(ids).toHaveLength(3);
  expect(await idCount(store, ids)).toBe(3);
  return ids;
}

async function keyBodies(store: DefaultMessageStore, key = 'k'): Promise<string[]> {
  const r = await store.queryMessage('T', key, 32, 0, Number.MAX_SAFE_INTEGER);
  return decodeRecords(r.records).map((m) => m.body.toString());
}

async function idCount(store: DefaultMessageStore, ids: string[]): Promise<number> {
  let n = 0;
  for (const id of ids) n += (await store.queryMessageById(id, 8)).count;
  return n;
}

/** What a topic created again must look like: only `expected` on queue 0, nothing on queue 1, Other untouched. */
async function expectOnlyNew(store: DefaultMessageStore, oldIds: string[], expected: string[]): Promise<void> {
  expect(await bodies(store, 'T', 0)).toEqual(expected);
  expect(await bodies(store, 'T', 1)).toEqual([]);
  expect(await bodies(store, 'Other', 0)).toEqual(['keep']);
  expect(await keyBodies(store)).toEqual(expected.filter((b) => b.startsWith('new')));
  expect(await idCount(store, oldIds)).toBe(0);
}

describe('deleteTopic', () => {
  it('empties every queue of the topic; the next send starts at offset 0; other topics stay', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    const logEnd = store.stats().commitLogMaxOffset;
    const result = await store.deleteTopic('T', 111);
    expect(result).toEqual({ topic: 'T', deletedBelow: logEnd, queues: 2 });
    // The CommitLog keeps the bytes (retention removes them); nothing of T is served.
    expect(store.stats().commitLogMaxOffset).toBe(logEnd);
    const q0 = await store.getMessage('T', 0, 0, 10);
    expect([q0.count, q0.maxOffset]).toEqual([0, 0]);
    expect(fs.existsSync(path.join(fx.dir, 'consumequeue', 'T'))).toBe(false);
    expect(fs.existsSync(path.join(fx.dir, 'deleted-queues', 'T'))).toBe(false);
    expect(await keyBodies(store)).toEqual([]);
    expect(await idCount(store, ids)).toBe(0);

    const again = await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]));
    expect(again.queueOffset).toBe(0);
    await expectOnlyNew(store, ids, ['new0']);
  });

  it('writes the tombstone to disk before it answers, and it survives a reopen', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    const { deletedBelow } = await store.deleteTopic('T', 111);
    expect(readTombstoneFile(path.join(fx.dir, TOMBSTONE_FILE)).get('T')).toEqual({ deletedBelow, createdAt: 111, deleted: true });
    await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]));
    const reopened = await fx.reopen();
    await expectOnlyNew(reopened, ids, ['new0']);
    expect((await reopened.putMessages(makeBatch('T', 0, ['new1']))).queueOffset).toBe(1);
  });

  it('a crash after the delete does not put old records back (the replay from the last checkpoint skips them)', async () => {
    const store = fx.open();
    await store.putMessages(makeBatch('Other', 1, ['before']));
    await store.flushRound(); // checkpoint: the replay after the crash starts here, below the old records ...
    const ids = await putOld(store);
    await store.deleteTopic('T');
    // ... and a new T shorter than the old one: re-dispatched old units would land at offsets 1 and 2.
    await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]));
    await crash(store);
    const recovered = fx.open();
    await expectOnlyNew(recovered, ids, ['new0']);
    expect((await recovered.putMessages(makeBatch('T', 0, ['new1']))).queueOffset).toBe(1);
  });

  it('a crash with no checkpoint at all (the whole log replayed) does not put old records back', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    await store.deleteTopic('T');
    await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]));
    await crash(store);
    expect(fs.existsSync(path.join(fx.dir, 'checkpoint'))).toBe(false);
    const recovered = fx.open();
    await expectOnlyNew(recovered, ids, ['new0']);
  });

  it('a ConsumeQueue and index rebuild from the log (their folders removed) leaves the deleted records out', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    await store.deleteTopic('T');
    await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]));
    await fx.closeAll();
    fs.rmSync(path.join(fx.dir, 'consumequeue'), { recursive: true });
    fs.rmSync(path.join(fx.dir, 'index'), { recursive: true, force: true });
    fs.rmSync(path.join(fx.dir, 'checkpoint'));
    const rebuilt = fx.open();
    await expectOnlyNew(rebuilt, ids, ['new0']);
  });

  it('a crash between the tombstone and the removal of the queues: recovery drops the queues the delete left', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    await store.flushRound();
    // The delete's first step only: the tombstone is on disk, the queue folders are not moved.
    store.topicTombstones.markDeleted('T', store.stats().commitLogMaxOffset, undefined);
    await crash(store);
    const recovered = fx.open();
    expect(fs.existsSync(path.join(fx.dir, 'consumequeue', 'T'))).toBe(false);
    await expectOnlyNew(recovered, ids, []);
    expect((await recovered.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]))).queueOffset).toBe(0);
    await expectOnlyNew(recovered, ids, ['new0']);
  });

  it('deleting twice, with sends between, keeps only what came after the second delete', async () => {
    const store = fx.open();
    const ids = await putOld(store);
    await store.deleteTopic('T');
    await store.putMessages(makeBatch('T', 0, [{ body: 'mid0', keys: ['k'] }, 'mid1']));
    await store.deleteTopic('T');
    expect((await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]))).queueOffset).toBe(0);
    await crash(store);
    await expectOnlyNew(fx.open(), ids, ['new0']);
  });

  it('a delete during a flush round, and sends right after it, do not fail', async () => {
    const store = fx.open();
    await putOld(store);
    for (let i = 0; i < 50; i++) await store.putMessages(makeBatch('T', 2, [`x${i}`]));
    const [, , sent] = await Promise.all([store.flushRound(), store.deleteTopic('T'), store.putMessages(makeBatch('T', 2, ['after']))]);
    expect(sent.queueOffset).toBe(0);
    await store.flushRound();
    expect(await bodies(store, 'T', 2)).toEqual(['after']);
    expect(store.stats().checkpointLogicsOffset).toBe(store.stats().commitLogMaxOffset);
  });
});

describe('topic incarnations (a broker that missed the delete)', () => {
  it('drops the queues of an older incarnation before serving a newer one, durably', async () => {
    const store = fx.open();
    expect(store.ensureTopicIncarnation('T', 1000)).toBe('current');
    const ids = await putOld(store);
    expect(store.ensureTopicIncarnation('T', 1000)).toBe('current');
    expect(await bodies(store, 'T', 0)).toEqual(['old0', 'old1', 'old2']);
    // The NameServer now has T created at 2000: deleted and created again while we were away.
    expect(store.ensureTopicIncarnation('T', 2000)).toBe('current');
    expect(await bodies(store, 'T', 0)).toEqual([]);
    expect((await store.putMessages(makeBatch('T', 0, [{ body: 'new0', keys: ['k'] }]))).queueOffset).toBe(0);
    // Older information than the queues' (a stale answer) is not served.
    expect(store.ensureTopicIncarnation('T', 1000)).toBe('stale');
    await crash(store);
    const recovered = fx.open();
    await expectOnlyNew(recovered, ids, ['new0']);
    expect(recovered.ensureTopicIncarnation('T', 2000)).toBe('current');
  });

  it('an incarnation deleted here is answered as deleted until a newer one comes', async () => {
    const store = fx.open();
    store.ensureTopicIncarnation('T', 1000);
    await putOld(store);
    await store.deleteTopic('T', 1000);
    expect(store.ensureTopicIncarnation('T', 1000)).toBe('deleted');
    const reopened = await fx.reopen();
    expect(reopened.ensureTopicIncarnation('T', 1000)).toBe('deleted');
    expect(reopened.ensureTopicIncarnation('T', 3000)).toBe('current');
    expect(await bodies(reopened, 'T', 0)).toEqual([]);
  });

  it('a first sight of a topic adopts its local queues (a store from before incarnations)', async () => {
    const store = fx.open();
    await putOld(store);
    expect(store.ensureTopicIncarnation('T', 1000)).toBe('current');
    expect(await bodies(store, 'T', 0)).toEqual(['old0', 'old1', 'old2']);
  });

  it('refuses to open over a damaged tombstone file rather than serve deleted records', async () => {
    const store = fx.open();
    await putOld(store);
    await store.deleteTopic('T');
    await fx.closeAll();
    fs.writeFileSync(path.join(fx.dir, TOMBSTONE_FILE), '{"version":1,"topics":');
    expect(() => fx.open()).toThrow(/topic-tombstones.json is not valid JSON/);
  });
});
