import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeRecords, javaHashCode, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch, prepare, type TestMessage } from '../../testing/fixtures';
import { useStoreFixture } from '../../testing/store-fixture';
import type { DispatchRequest } from '../dispatcher';
import type { DefaultMessageStore } from '../message-store';
import { IndexService } from './index-service';

const fx = useStoreFixture({
  commitLogSegmentBytes: 64 * 1024,
  consumeQueueUnitsPerFile: 64,
  flushIntervalMs: 20,
  indexHashSlotNum: 8,
  indexNum: 16,
  preallocateSegments: false,
});
const openStore = fx.open;
const reopen = fx.reopen;
afterEach(() => {
  vi.restoreAllMocks();
});

const byKey = async (store: DefaultMessageStore, topic: string, key: string, max = 100, begin = 0, end = Number.MAX_SAFE_INTEGER) =>
  decodeRecords((await store.queryMessage(topic, key, max, begin, end)).records).map((m) => m.body.toString());
const byId = async (store: DefaultMessageStore, id: string) => decodeRecords((await store.queryMessageById(id, 32)).records);
const indexFiles = () => fs.readdirSync(path.join(fx.dir, 'index')).filter((n) => /^\d{20}$/.test(n));

describe('IndexService: lookup by key and by id', () => {
  it('finds messages by key within their topic, and by id without one', async () => {
    const store = openStore();
    await store.putMessages(
      makeBatch('Orders', 0, [
        { body: 'o1', keys: ['order-1', 'cust-9'] },
        { body: 'o2', keys: ['order-2'] },
      ]),
    );
    await store.putMessages(makeBatch('Orders', 1, [{ body: 'o1-again', keys: ['order-1'] }]));
    await store.putMessages(makeBatch('Refunds', 0, [{ body: 'r1', keys: ['order-1'] }]));
    expect(await byKey(store, 'Orders', 'order-1')).toEqual(['o1', 'o1-again']);
    expect(await byKey(store, 'Orders', 'cust-9')).toEqual(['o1']);
    expect(await byKey(store, 'Refunds', 'order-1')).toEqual(['r1']);
    expect(await byKey(store, 'Orders', 'nope')).toEqual([]);
    expect(await byKey(store, 'Orders', 'order-1', 1)).toEqual(['o1-again']); // the newest

    const neverStored = prepare({ body: 'by-id' });
    await store.putMessages(makeBatch('Orders', 2, [{ body: 'find-me' }]));
    const all = decodeRecords((await store.getMessage('Orders', 2, 0, 10)).records);
    const found = await byId(store, all[0]!.messageId);
    expect(found.map((m) => [m.body.toString(), m.topic, m.queueId])).toEqual([['find-me', 'Orders', 2]]);
    expect(await byId(store, neverStored.messageId)).toEqual([]); // prepared, never stored
    expect(await byId(store, 'NO-SUCH-ID')).toEqual([]);
  });

  it('confirms each hit against the record: keys whose index hashes collide ("Aa", "BB") stay apart', async () => {
    expect(javaHashCode('Orders#Aa')).toBe(javaHashCode('Orders#BB'));
    const store = openStore();
    await store.putMessages(
      makeBatch('Orders', 0, [
        { body: 'aa', keys: ['Aa'] },
        { body: 'bb', keys: ['BB'] },
      ]),
    );
    expect(await byKey(store, 'Orders', 'Aa')).toEqual(['aa']);
    expect(await byKey(store, 'Orders', 'BB')).toEqual(['bb']);
  });

  it('looks up within a time range', async () => {
    const store = openStore();
    const now = vi.spyOn(Date, 'now');
    for (const [i, t] of [1_000, 2_000, 3_000].entries()) {
      now.mockReturnValue(1_700_000_000_000 + t);
      await store.putMessages(makeBatch('Orders', 0, [{ body: `m${i}`, keys: ['k'] }]));
    }
    now.mockRestore();
    const base = 1_700_000_000_000;
    expect(await byKey(store, 'Orders', 'k')).toEqual(['m0', 'm1', 'm2']);
    expect(await byKey(store, 'Orders', 'k', 100, base + 1_500, base + 2_500)).toEqual(['m1']);
    expect(await byKey(store, 'Orders', 'k', 100, base + 2_000)).toEqual(['m1', 'm2']);
    expect(await byKey(store, 'Orders', 'k', 100, 0, base + 999)).toEqual([]);
  });

  it('rolls to a new file when one is full and still finds messages in the old ones', async () => {
    const store = openStore({ indexNum: 16 });
    const messages: TestMessage[] = Array.from({ length: 40 }, (_, i) => ({ body: `m${i}`, keys: [`k${i % 5}`] }));
    for (let i = 0; i < messages.length; i += 4) await store.putMessages(makeBatch('Orders', 0, messages.slice(i, i + 4)));
    // Two entries a message (key + id), 15 a file (entry 0 is never used), a batch's keys in one file.
    expect(indexFiles().length).toBeGreaterThanOrEqual(6);
    expect(await byKey(store, 'Orders', 'k3')).toEqual(['m3', 'm8', 'm13', 'm18', 'm23', 'm28', 'm33', 'm38']);
    await reopen({ indexNum: 16 });
    expect(await byKey(fx.stores[0]!, 'Orders', 'k3')).toHaveLength(8);
  });

  it('is rebuilt from the CommitLog after its directory is deleted', async () => {
    let store = openStore();
    for (let i = 0; i < 10; i++) await store.putMessages(makeBatch('Orders', i % 2, [{ body: `m${i}`, keys: [`key-${i}`, 'all'] }]));
    const ids = decodeRecords((await store.getMessage('Orders', 1, 0, 10)).records).map((m) => m.messageId);
    await fx.closeAll();
    fs.rmSync(path.join(fx.dir, 'index'), { recursive: true });

    store = openStore();
    expect(await byKey(store, 'Orders', 'all')).toHaveLength(10);
    expect(await byKey(store, 'Orders', 'key-7')).toEqual(['m7']);
    expect((await byId(store, ids[2]!)).map((m) => m.body.toString())).toEqual(['m5']);
    // Durable progress moves once the rebuilt files are persisted (the persist timer, or now).
    await store.indexService.persistAsync();
    expect(store.indexService.maxPhysicalOffset()).toBe(store.commitLog.getMaxOffset());
  });

  it('keeps its progress across a clean restart (no replay of what it holds)', async () => {
    const store = openStore();
    await store.putMessages(makeBatch('Orders', 0, [{ body: 'a', keys: ['k'] }]));
    const end = store.commitLog.getMaxOffset();
    const again = await reopen();
    expect(again.indexService.maxPhysicalOffset()).toBe(end);
    expect(await byKey(again, 'Orders', 'k')).toEqual(['a']); // not twice
  });
});

describe('IndexService recovery', () => {
  const req = (commitLogOffset: number, keys: string, uniqKey = `ID${commitLogOffset}`, size = 100): DispatchRequest => ({
    topic: 'T',
    queueId: 0,
    commitLogOffset,
    size,
    tagsCode: 0,
    queueOffset: 0,
    storeTimestamp: 1_700_000_000_000 + commitLogOffset,
    keys,
    uniqKey,
  });
  const candidates = (s: IndexService, key: string) => [...s.candidates(key, 0, Number.MAX_SAFE_INTEGER)];

  it('does not count progress past the log, and drops files that start past it', async () => {
    const config = { hashSlotNum: 8, indexNum: 6, persistIntervalMs: 1_000 };
    let s = new IndexService(fx.dir, config, silentLogger);
    s.load(0);
    for (let off = 0; off < 600; off += 100) s.dispatch(req(off, `k${off}`));
    s.flush();
    await s.shutdown();
    expect(indexFiles()).toEqual(['00000000000000000000', '00000000000000000200', '00000000000000000400']);

    // The CommitLog lost its tail from 250 on: the file starting at 400 holds only entries past it.
    s = new IndexService(fx.dir, config, silentLogger);
    s.load(250);
    expect(indexFiles()).toEqual(['00000000000000000000', '00000000000000000200']);
    expect(s.maxPhysicalOffset()).toBe(250);
    // A record rewritten at 300 is indexed (not taken as held), the stale entry at 300 stays:
    // the store's confirmation against the record drops it (query-message-service.ts).
    s.dispatch(req(300, 'new-key'));
    s.dispatch(req(100, 'replayed')); // below the progress: skipped
    s.flush();
    expect(candidates(s, 'T#new-key')).toEqual([300]);
    expect(candidates(s, 'T#k300')).toEqual([300]);
    expect(candidates(s, 'T#replayed')).toEqual([]);
    expect(candidates(s, 'T#k100')).toEqual([100]);
    await s.shutdown();
  });

  it('after a crash right after a roll, replays what the sealed file had not persisted', async () => {
    const config = { hashSlotNum: 8, indexNum: 6, persistIntervalMs: 60_000 }; // 5 entries: two records a file
    const s = new IndexService(fx.dir, config, silentLogger);
    s.load(0);
    s.dispatch(req(0, 'k0'));
    await s.persistAsync();
    s.dispatch(req(100, 'k100')); // in the first file, its slots not persisted yet
    s.dispatch(req(200, 'k200')); // rolls: the first file's last persist is only queued
    s.flush();
    // The disk as a kill -9 would leave it now (the queued persist has not run: no await yet).
    const crashed = path.join(fx.dir, 'crashed'); // a second store folder, deleted with fx.dir
    fs.cpSync(path.join(fx.dir, 'index'), path.join(crashed, 'index'), { recursive: true });
    await s.shutdown();

    const r = new IndexService(crashed, config, silentLogger);
    r.load(300);
    expect(r.maxPhysicalOffset()).toBe(100);
    for (const off of [100, 200]) r.dispatch(req(off, `k${off}`)); // the startup replay
    r.flush();
    expect(candidates(r, 'T#k100')).toEqual([100]);
    expect(candidates(r, 'T#k200')).toEqual([200]);
    expect(candidates(r, 'T#k0')).toEqual([0]);
    await r.shutdown();
  });

  it('reports as durable only what a persist has written', async () => {
    const s = new IndexService(fx.dir, { hashSlotNum: 8, indexNum: 64, persistIntervalMs: 60_000 }, silentLogger);
    s.load(0);
    s.dispatch(req(0, 'a'));
    s.flush();
    expect(s.maxPhysicalOffset()).toBe(0);
    await s.persistAsync();
    expect(s.maxPhysicalOffset()).toBe(100);
    await s.shutdown();
  });
});
