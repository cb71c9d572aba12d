import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  CirrusError,
  decodeRecords,
  decodeSendBatch,
  encodeSendBatch,
  markHalfMessages,
  type Message,
  MessageConst,
  prepareMessage,
  silentLogger,
} from '@cirrusmq/client/protocol';
import type { DefaultMessageStore } from '../store/message-store';
import { waitFor } from '../../../infra/local/wait-for';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { holdRetentionForTimers } from '../timer/timer-put';
import { callCheckUrl, parseCheckAnswer } from './check-url-caller';
import { HALF_TOPIC } from './half-message';
import { OP_TOPIC } from './op-message';
import { TransactionalMessageService } from './transactional-message-service';

const fx = useStoreFixture({
  commitLogSegmentBytes: 64 * 1024,
  consumeQueueUnitsPerFile: 64,
  flushIntervalMs: 10,
  cleanIntervalMs: 3_600_000,
  preallocateSegments: false,
});

const T0 = 1_800_000_000_000;

function setup(store: DefaultMessageStore = fx.open(), clock = { now: T0 }, checkMax = 3) {
  const tx = new TransactionalMessageService(
    store,
    { brokerName: 'broker-a', checkFirstMs: 6_000, checkIntervalMs: 30_000, checkMax, checkUrlTimeoutMs: 1_000, now: () => clock.now },
    silentLogger,
  );
  return { store, clock, tx };
}

/** Sends `messages` to T queue 0, the first `halves` of them as half messages of group G. */
async function send(
  tx: TransactionalMessageService,
  store: DefaultMessageStore,
  messages: Omit<Message, 'topic'>[],
  halves = messages.length,
): Promise<string[]> {
  const prepared = messages.map((m) => prepareMessage({ topic: 'T', ...m }, 4096, T0));
  markHalfMessages(prepared.slice(0, halves), 'G');
  const batch = decodeSendBatch(encodeSendBatch('T', 0, prepared), 1000);
  await tx.putMessages(batch, undefined, (b) => store.putMessages(b));
  return prepared.map((p) => p.messageId);
}

async function visible(store: DefaultMessageStore) {
  return decodeRecords((await store.getMessage('T', 0, 0, 1000)).records);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof CirrusError ? e.code : String(e);
  }
}

describe('TransactionalMessageService', () => {
  it('keeps half messages out of their queue until commit; a commit appends the message once, with its id and body, no longer a half message', async () => {
    const { store, tx } = setup();
    await tx.recover();
    const [a, b] = await send(tx, store, [{ body: 'one', tags: 'x', properties: { p: '1' } }, { body: 'two' }]);
    expect(await visible(store)).toHaveLength(0);
    expect(store.getMaxOffsetInQueue(HALF_TOPIC, 0)).toBe(2);
    expect(tx.pendingCount()).toBe(2);
    const ended = await tx.end(a!, 'COMMIT');
    expect(ended).toMatchObject({ resolution: 'COMMIT', topic: 'T', queueId: 0, queueOffset: 0 });
    const seen = await visible(store);
    expect(seen.map((m) => [m.messageId, m.body.toString(), m.tags, m.properties.p])).toEqual([[a, 'one', 'x', '1']]);
    expect(seen[0]!.properties[MessageConst.TRANSACTION_PREPARED]).toBeUndefined();
    expect(seen[0]!.properties[MessageConst.REAL_TOPIC]).toBeUndefined();
    // A second end of either kind is a 409; an unknown id a 404.
    expect(await code(tx.end(a!, 'COMMIT'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect(await code(tx.end(a!, 'ROLLBACK'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect(await code(tx.end('ABCDEF', 'COMMIT'))).toBe('TRANSACTION_NOT_FOUND');
    await tx.end(b!, 'ROLLBACK');
    expect(await code(tx.end(b!, 'COMMIT'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect((await visible(store)).map((m) => m.messageId)).toEqual([a]);
    expect(tx.pendingCount()).toBe(0);
  });

  it('splits a batch mixing half and plain messages: the plain ones are visible at once', async () => {
    const { store, tx } = setup();
    await tx.recover();
    const ids = await send(tx, store, [{ body: 'half' }, { body: 'plain' }], 1);
    expect((await visible(store)).map((m) => m.messageId)).toEqual([ids[1]]);
    expect(tx.pendingCount()).toBe(1);
  });

  it('rebuilds the table from the CommitLog after a restart: pending ones can be committed, ended ones stay ended', async () => {
    const first = setup();
    await first.tx.recover();
    const [a, b, c] = await send(first.tx, first.store, [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    await first.tx.end(a!, 'COMMIT');
    await first.tx.end(b!, 'ROLLBACK');
    const store = await fx.reopen();
    const again = setup(store);
    expect(again.tx.retentionHold()).toBe(0);
    await again.tx.recover();
    expect(again.tx.pendingCount()).toBe(1);
    expect(await code(again.tx.end(a!, 'ROLLBACK'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect(await code(again.tx.end(b!, 'COMMIT'))).toBe('TRANSACTION_ALREADY_ENDED');
    // Retention holds from the pending half record on.
    expect(again.tx.retentionHold()).toBeLessThan(store.stats().commitLogMaxOffset);
    await again.tx.end(c!, 'COMMIT');
    expect((await visible(store)).map((m) => m.body.toString())).toEqual(['a', 'c']);
    expect(again.tx.retentionHold()).toBe(Number.POSITIVE_INFINITY);
  });

  it('ends arriving in one turn share one write and one op record per kind; after a restart every one of them is still ended', async () => {
    const first = setup();
    await first.tx.recover();
    const ids = await send(first.tx, first.store, [{ body: 'a' }, { body: 'b' }, { body: 'c' }, { body: 'd' }, { body: 'e' }, { body: 'f' }]);
    const ops = first.store.getMaxOffsetInQueue(OP_TOPIC, 0);
    const actions = ['COMMIT', 'ROLLBACK', 'COMMIT', 'COMMIT', 'ROLLBACK', 'COMMIT'] as const;
    const ended = await Promise.all(ids.map((id, i) => first.tx.end(id, actions[i]!)));
    expect(ended.filter((e) => e.resolution === 'COMMIT').map((e) => e.queueOffset)).toEqual([0, 1, 2, 3]);
    expect(first.store.getMaxOffsetInQueue(OP_TOPIC, 0) - ops).toBe(2);
    expect((await visible(first.store)).map((m) => m.body.toString())).toEqual(['a', 'c', 'd', 'f']);
    const store = await fx.reopen();
    const again = setup(store);
    await again.tx.recover();
    expect(again.tx.pendingCount()).toBe(0);
    for (const [i, id] of ids.entries())
      expect(await code(again.tx.end(id, actions[i] === 'COMMIT' ? 'ROLLBACK' : 'COMMIT'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect((await visible(store)).map((m) => m.body.toString())).toEqual(['a', 'c', 'd', 'f']);
  });

  it('the ends of one turn to several queues are one CommitLog write: the committed records queue by queue, then the op records', async () => {
    const { store, tx } = setup();
    await tx.recover();
    const sendTo = async (queueId: number, body: string) => {
      const prepared = [prepareMessage({ topic: 'T', body }, 4096, T0)];
      markHalfMessages(prepared, 'G');
      await tx.putMessages(decodeSendBatch(encodeSendBatch('T', queueId, prepared), 1000), undefined, (b) => store.putMessages(b));
      return prepared[0]!.messageId;
    };
    const sent = [await sendTo(0, 'a'), await sendTo(1, 'b'), await sendTo(2, 'c'), await sendTo(1, 'd'), await sendTo(0, 'e')];
    const writes: number[] = [];
    const putOfQueues = store.putMessagesOfQueues.bind(store);
    store.putMessagesOfQueues = (batch, queues, options) => {
      writes.push(batch.records.length);
      return putOfQueues(batch, queues, options);
    };
    const logBefore = store.commitLog.getMaxOffset();
    const actions = ['COMMIT', 'COMMIT', 'ROLLBACK', 'COMMIT', 'COMMIT'] as const;
    const ended = await Promise.all(sent.map((id, i) => tx.end(id, actions[i]!)));
    // 4 committed records and 2 op records (one per kind).
    expect(writes).toEqual([6]);
    expect(ended.map((e) => [e.queueId, e.queueOffset])).toEqual([
      [0, 0],
      [1, 0],
      [2, undefined],
      [1, 1],
      [0, 1],
    ]);
    const inQueue = async (queueId: number) =>
      decodeRecords((await store.getMessage('T', queueId, 0, 100)).records).map((m) => [m.body.toString(), m.commitLogOffset] as const);
    const q0 = await inQueue(0);
    const q1 = await inQueue(1);
    expect(q0.map(([b]) => b)).toEqual(['a', 'e']);
    expect(q1.map(([b]) => b)).toEqual(['b', 'd']);
    expect(await inQueue(2)).toEqual([]);
    // The op records lie after every committed record of the write.
    const ops = decodeRecords((await store.getMessage(OP_TOPIC, 0, 0, 100)).records).filter((m) => m.commitLogOffset >= logBefore);
    expect(ops).toHaveLength(2);
    const lastCommitted = Math.max(...[...q0, ...q1].map(([, o]) => o));
    for (const op of ops) expect(op.commitLogOffset).toBeGreaterThan(lastCommitted);
  });

  it('checks back first after checkFirstMs, then every checkIntervalMs, and rolls back after checkMax checks', async () => {
    const { store, clock, tx } = setup(undefined, undefined, 2);
    await tx.recover();
    const [id] = await send(tx, store, [{ body: 'pending', keys: ['k1'] }]);
    clock.now = T0 + 5_999;
    await tx.checkPass();
    expect(await tx.takeChecks('G', 0, 10)).toEqual([]);
    clock.now = T0 + 6_000;
    await tx.checkPass();
    const [check] = await tx.takeChecks('G', 0, 10);
    expect(check).toMatchObject({ messageId: id, topic: 'T', producerGroup: 'G', checkTimes: 1, keys: ['k1'] });
    expect(Buffer.from(check!.body, 'base64').toString()).toBe('pending');
    clock.now = T0 + 35_999;
    await tx.checkPass();
    expect(await tx.takeChecks('G', 0, 10)).toEqual([]);
    clock.now = T0 + 36_000;
    await tx.checkPass();
    expect((await tx.takeChecks('G', 0, 10)).map((c) => c.checkTimes)).toEqual([2]);
    clock.now = T0 + 66_000;
    await tx.checkPass();
    expect(tx.counters.discarded).toBe(1);
    expect(await code(tx.end(id!, 'COMMIT'))).toBe('TRANSACTION_ALREADY_ENDED');
    expect(await visible(store)).toHaveLength(0);
  });

  it('a long poll parked for a group answers when a check falls due', async () => {
    const { store, clock, tx } = setup();
    await tx.recover();
    await send(tx, store, [{ body: 'x' }]);
    const polled = tx.takeChecks('G', 5_000, 10);
    expect(tx.parkedPolls()).toBe(1);
    clock.now = T0 + 6_000;
    await tx.checkPass();
    expect(await polled).toHaveLength(1);
  });

  it("calls a group's check URL: COMMIT commits; garbage and a timeout count as UNKNOWN and leave it pending", async () => {
    const { store, clock, tx } = setup();
    await tx.recover();
    let answer = 'garbage!';
    const bodies: unknown[] = [];
    const server = http.createServer((req, res) => {
      let s = '';
      req.on('data', (d) => (s += d));
      req.on('end', () => {
        bodies.push(JSON.parse(s));
        if (answer === 'hang') return;
        res.end(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await tx.registerGroup('G', `http://127.0.0.1:${(server.address() as AddressInfo).port}/check`);
      const [id] = await send(tx, store, [{ body: 'x' }]);
      const settle = async (reason: 'garbage' | 'timeout', n: number) => {
        await tx.checkPass();
        await waitFor(`${n} check(s) counted as ${reason}`, 15_000, async () => tx.counters.checkUnknown[reason] >= n, 20);
      };
      clock.now = T0 + 6_000;
      await settle('garbage', 1);
      expect(tx.counters.checkUnknown.garbage).toBe(1);
      answer = 'hang';
      clock.now = T0 + 36_000;
      await settle('timeout', 1);
      expect(tx.counters.checkUnknown.timeout).toBe(1);
      expect(tx.pendingCount()).toBe(1);
      answer = '{"resolution":"COMMIT"}';
      clock.now = T0 + 66_000;
      await tx.checkPass();
      await waitFor('the check URL commit', 15_000, async () => tx.pendingCount() === 0, 20);
      expect((await visible(store)).map((m) => m.messageId)).toEqual([id]);
      expect(bodies[0]).toMatchObject({ messageId: id, topic: 'T', producerGroup: 'G', checkTimes: 1 });
      expect(tx.metricsText('broker-a')).toContain('cirrusmq_transaction_check_unknown_total{broker="broker-a",reason="garbage"} 1');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('keeps a pending half record through retention (small segments, nothing reserved); after its end its segment may go', async () => {
    const store = fx.open({ commitLogSegmentBytes: 4096, fileReservedTimeMs: 1 });
    const { tx } = setup(store);
    holdRetentionForTimers(store.cleanCommitLogService, tx);
    const fill = () => store.putMessages(makeBatch('Fill', 0, [{ body: 'x'.repeat(1000) }]));
    await fill();
    await tx.recover();
    for (let i = 0; i < 6; i++) await fill();
    const [id] = await send(tx, store, [{ body: 'held' }]);
    for (let i = 0; i < 30; i++) await fill();
    store.flush();
    const sealed = Date.now();
    await waitFor('every sealed segment older than fileReservedTimeMs', 1_000, async () => Date.now() > sealed + 2);
    store.cleanCommitLogService.run();
    const left = store.commitLog.mappedFileQueue.mappedFiles;
    expect(left[0]!.fileFromOffset).toBeGreaterThan(0);
    expect(left[0]!.fileFromOffset).toBeLessThanOrEqual(tx.retentionHold());
    await tx.end(id!, 'COMMIT');
    expect((await visible(store)).map((m) => m.body.toString())).toEqual(['held']);
    const before = store.commitLog.mappedFileQueue.mappedFiles.length;
    store.cleanCommitLogService.run();
    expect(store.commitLog.mappedFileQueue.mappedFiles.length).toBeLessThan(before);
  });

  it('refuses a check URL outside the allowed prefixes, and does not follow a redirect from one (the answer behind it counts as UNKNOWN)', async () => {
    const store = fx.open();
    const tx = new TransactionalMessageService(
      store,
      {
        brokerName: 'broker-a',
        checkFirstMs: 6_000,
        checkIntervalMs: 30_000,
        checkMax: 3,
        checkUrlTimeoutMs: 1_000,
        checkUrlPrefixes: ['https://checks.example/'],
      },
      silentLogger,
    );
    await tx.recover();
    expect(await code(tx.registerGroup('G', 'http://169.254.169.254/latest/meta-data/'))).toBe('INVALID_PARAMETER');
    expect(await code(tx.registerGroup('G', 'https://checks.example/orders'))).toBe('ok');
    expect(await code(tx.registerGroup('G', null))).toBe('ok');
    // Behind a redirect, a checker that would say COMMIT: never reached.
    let reached = 0;
    const target = http.createServer((_req, res) => {
      reached++;
      res.end('COMMIT');
    });
    const redirect = http.createServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${(target.address() as AddressInfo).port}/` });
      res.end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => redirect.listen(0, '127.0.0.1', r));
    try {
      const answer = await callCheckUrl(`http://127.0.0.1:${(redirect.address() as AddressInfo).port}/`, { transactionId: 'x' }, 1_000);
      expect(answer).toEqual({ resolution: 'UNKNOWN', reason: 'error' });
      expect(reached).toBe(0);
    } finally {
      for (const s of [target, redirect]) {
        s.closeAllConnections();
        s.close();
      }
    }
    await tx.close();
  });

  it("adopts a peer's producer groups it has never been told of, durably; never one it knows; never a URL outside its prefixes", async () => {
    const store = fx.open();
    const config = {
      brokerName: 'broker-b',
      checkFirstMs: 6_000,
      checkIntervalMs: 30_000,
      checkMax: 3,
      checkUrlTimeoutMs: 1_000,
      checkUrlPrefixes: ['https://ok/'],
    };
    const tx = new TransactionalMessageService(store, config, silentLogger);
    await tx.recover();
    await tx.registerGroup('told', 'https://ok/told');
    const taken = await tx.adoptGroups([
      { group: 'told', checkUrl: 'https://ok/other' },
      { group: 'new', checkUrl: 'https://ok/new' },
      { group: 'cleared', checkUrl: null },
      { group: 'elsewhere', checkUrl: 'http://169.254.169.254/' },
    ]);
    expect(taken).toEqual(['new', 'cleared']);
    const groups = Object.fromEntries(tx.producerGroups().map((g) => [g.group, g.checkUrl]));
    expect(groups).toEqual({ told: 'https://ok/told', new: 'https://ok/new', cleared: null });
    await tx.close();
    // Kept as the group's own registration: back after a restart.
    const again = new TransactionalMessageService(store, config, silentLogger);
    await again.recover();
    expect(again.checkUrlOf('new')).toBe('https://ok/new');
    await again.close();
  });

  it('parses check answers: plain words, JSON strings and objects; anything else is garbage', () => {
    expect(parseCheckAnswer('commit')).toEqual({ resolution: 'COMMIT' });
    expect(parseCheckAnswer('"ROLLBACK"')).toEqual({ resolution: 'ROLLBACK' });
    expect(parseCheckAnswer('{"resolution":"UNKNOWN"}')).toEqual({ resolution: 'UNKNOWN', reason: 'unknown' });
    expect(parseCheckAnswer('{"resolution":7}').reason).toBe('garbage');
    expect(parseCheckAnswer('yes').reason).toBe('garbage');
    expect(parseCheckAnswer('{').reason).toBe('garbage');
  });
});
