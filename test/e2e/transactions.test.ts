/**
 * Transactional (half) messages against a real cluster (NameServer, two brokers, gateway as
 * processes), with check-backs made short (first after 0.5 s, every 1.5 s, 8 at most):
 * committed messages are consumed exactly once and rolled-back or pending ones never appear in
 * their queues; an SDK TransactionProducer answers a check-back over its long poll; a check URL
 * answering COMMIT commits, one answering garbage or too late is counted as UNKNOWN and the
 * transaction is rolled back after the last check; pending transactions survive a SIGKILL of
 * both brokers and commit afterwards; 400 / 404 / 409 answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CirrusError, HttpTransactionProducer, SimpleConsumer, TransactionProducer, type TransactionResolution } from '@cirrusmq/client';
import { ContentTypes, encodeSendBatch, encodeTimerBatch, prepareMessage } from '@cirrusmq/client/protocol';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';
import { sample } from '../support/prometheus-text';

const CHECK_FIRST_MS = 500;
const CHECK_INTERVAL_MS = 1_500;
const CHECK_MAX = 8;

let cluster: LocalCluster;
let nameServer: string;
const servers: http.Server[] = [];

beforeAll(async () => {
  cluster = await startTestCluster({
    env: {
      CIRRUSMQ_TRANSACTION_CHECK_FIRST_MS: String(CHECK_FIRST_MS),
      CIRRUSMQ_TRANSACTION_CHECK_INTERVAL_MS: String(CHECK_INTERVAL_MS),
      CIRRUSMQ_TRANSACTION_CHECK_MAX: String(CHECK_MAX),
      // Long enough for a busy machine's answer to COMMIT; the silent server shows the timeout.
      CIRRUSMQ_TRANSACTION_CHECK_URL_TIMEOUT_MS: '1000',
    },
  });
  nameServer = cluster.nameServerUrl.replace(/^http:\/\//, '');
}, 60_000);
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await stopTestCluster(cluster);
});

async function createTopic(topic: string): Promise<void> {
  expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: 2 })).status).toBe(201);
}

/** The message ids in every queue of `topic`, read by offset (what any consumer could ever get). */
async function storedIds(topic: string): Promise<string[]> {
  const ids: string[] = [];
  for (const { brokerName } of cluster.config.brokers) {
    for (const queueId of [0, 1]) for (const m of await readWholeQueue(cluster.gatewayUrl, topic, brokerName, queueId)) ids.push(m.messageId);
  }
  return ids.sort();
}

async function sendHalf(topic: string, producerGroup: string, bodies: string[]): Promise<{ messageId: string; transactionId: string }[]> {
  const res = await api(cluster.gatewayUrl, 'POST', `/v1/topics/${topic}/messages`, {
    transaction: true,
    producerGroup,
    messages: bodies.map((body) => ({ body })),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  for (const r of res.body.results) expect(r.transactionId).toMatch(/^[0-9A-F]+\.[A-Za-z0-9_-]+$/);
  return res.body.results;
}

const end = (transactionId: string, action: 'commit' | 'rollback') => api(cluster.gatewayUrl, 'POST', `/v1/transactions/${transactionId}/${action}`);

/** A check URL: answers `answer(body)` (undefined: never answers), and records what it was sent. */
async function checkServer(answer: (check: any) => string | undefined): Promise<{ url: string; checks: any[] }> {
  const checks: any[] = [];
  const server = http.createServer((req, res) => {
    let s = '';
    req.on('data', (d) => (s += d));
    req.on('end', () => {
      const check = JSON.parse(s);
      checks.push(check);
      const a = answer(check);
      if (a !== undefined) res.end(a);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/check`, checks };
}

async function gatewayMetric(name: string): Promise<number> {
  return sample(await (await fetch(`${cluster.gatewayUrl}/metrics`)).text(), name, {}) ?? 0;
}

async function brokerMetric(name: string, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const { brokerName } of cluster.config.brokers) {
    const text = await (await fetch(`${cluster.brokerUrl(brokerName)}/metrics`)).text();
    total += sample(text, name, { broker: brokerName, ...labels }) ?? 0;
  }
  return total;
}

describe('transactional messages', () => {
  it('commit: consumed exactly once; rollback: never in its queue; a second end is 409, an unknown id 404', async () => {
    await createTopic('TxBasic');
    expect((await api(cluster.gatewayUrl, 'PUT', '/v1/groups/tx-basic', { consumeFrom: 'earliest' })).status).toBe(201);
    const [a, b, c] = await sendHalf('TxBasic', 'pg-basic', ['commit me', 'roll me back', 'commit me too']);
    expect(await storedIds('TxBasic')).toEqual([]);
    const committed = await end(a!.transactionId, 'commit');
    expect(committed.status).toBe(200);
    expect(committed.body).toMatchObject({ messageId: a!.messageId, resolution: 'COMMIT', topic: 'TxBasic' });
    expect((await end(b!.transactionId, 'rollback')).status).toBe(200);
    expect((await end(c!.transactionId, 'commit')).status).toBe(200);

    const again = await end(a!.transactionId, 'commit');
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TRANSACTION_ALREADY_ENDED');
    const afterRollback = await end(b!.transactionId, 'commit');
    expect(afterRollback.status).toBe(409);
    expect(afterRollback.body.error).toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED', details: { resolution: 'ROLLBACK' } });
    const unknownId = `${'AB'.repeat(16)}.${a!.transactionId.split('.')[1]}`;
    const unknown = await end(unknownId, 'commit');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('TRANSACTION_NOT_FOUND');

    // The committed ones, same ids, each once; the rolled-back one nowhere.
    expect(await storedIds('TxBasic')).toEqual([a!.messageId, c!.messageId].sort());
    const consumer = new SimpleConsumer({ nameServer, group: 'tx-basic', topics: ['TxBasic'], awaitDuration: 500 });
    const seen: string[] = [];
    try {
      await waitFor('both committed messages received', 20_000, async () => {
        const got = await consumer.receive(16);
        seen.push(...got.map((m) => m.messageId));
        await consumer.ackAll(got);
        return seen.length >= 2;
      });
      // Nothing more comes: the rolled-back one and no duplicate.
      const more = await consumer.receive(16);
      expect(more).toEqual([]);
    } finally {
      await consumer.close();
    }
    expect(seen.sort()).toEqual([a!.messageId, c!.messageId].sort());
  }, 60_000);

  it("a broker's batch end answers each end, or with answer=failures (the SDK's) only the failed ones by index", async () => {
    await createTopic('TxBatchEnd');
    const [a, b, c, d] = await sendHalf('TxBatchEnd', 'pg-batch-end', ['a', 'b', 'c', 'd']);
    const brokerOf = (transactionId: string) => Buffer.from(transactionId.split('.')[1]!, 'base64url').toString('utf8');
    const brokerUrl = cluster.brokerUrl(brokerOf(a!.transactionId));
    // One request goes to one broker: the ones sent there (a send batch takes one queue, so all of them).
    expect([b, c, d].map((x) => brokerOf(x!.transactionId))).toEqual([brokerOf(a!.transactionId), brokerOf(a!.transactionId), brokerOf(a!.transactionId)]);
    const unknown = 'AB'.repeat(16);
    const full = await api(brokerUrl, 'POST', '/v1/transaction/end', {
      ends: [
        { messageId: a!.messageId, resolution: 'COMMIT' },
        { messageId: unknown, resolution: 'COMMIT' },
        { messageId: b!.messageId, resolution: 'ROLLBACK' },
      ],
    });
    expect(full.status).toBe(200);
    expect(full.body.results).toHaveLength(3);
    expect(full.body.results[0]).toMatchObject({ messageId: a!.messageId, resolution: 'COMMIT', topic: 'TxBatchEnd' });
    expect(full.body.results[1].error.code).toBe('TRANSACTION_NOT_FOUND');
    expect(full.body.results[2]).toMatchObject({ messageId: b!.messageId, resolution: 'ROLLBACK' });
    const brief = await api(brokerUrl, 'POST', '/v1/transaction/end', {
      answer: 'failures',
      ends: [
        { messageId: c!.messageId, resolution: 'COMMIT' },
        { messageId: a!.messageId, resolution: 'ROLLBACK' },
        { messageId: d!.messageId, resolution: 'ROLLBACK' },
        { messageId: unknown, resolution: 'ROLLBACK' },
      ],
    });
    expect(brief.status).toBe(200);
    expect(brief.body).toEqual({
      failures: [
        { index: 1, error: expect.objectContaining({ code: 'TRANSACTION_ALREADY_ENDED', details: { resolution: 'COMMIT' } }) },
        { index: 3, error: expect.objectContaining({ code: 'TRANSACTION_NOT_FOUND' }) },
      ],
    });
    expect(await storedIds('TxBatchEnd')).toEqual([a!.messageId, c!.messageId].sort());
  });

  it('HTTP commits and rollbacks arriving together go through batch ends, each answered on its own (a 409 with its details)', async () => {
    await createTopic('TxHttpEnds');
    const halves = await sendHalf(
      'TxHttpEnds',
      'pg-ends',
      Array.from({ length: 20 }, (_, i) => `e${i}`),
    );
    const before = {
      ends: await gatewayMetric('cirrusmq_gateway_transaction_ends_total'),
      calls: await gatewayMetric('cirrusmq_gateway_broker_end_calls_total'),
    };
    // One send: all on one broker; every third rolled back, and the first committed twice.
    const answers = await Promise.all([
      ...halves.map((h, i) => end(h.transactionId, i % 3 === 0 ? 'rollback' : 'commit')),
      end(halves[1]!.transactionId, 'commit'),
    ]);
    const committed = halves.filter((_, i) => i % 3 !== 0);
    expect(answers.slice(0, 20).map((a) => a.status)).toEqual(halves.map(() => 200));
    for (const [i, a] of answers.slice(0, 20).entries()) {
      expect(a.body).toMatchObject({
        transactionId: halves[i]!.transactionId,
        messageId: halves[i]!.messageId,
        resolution: i % 3 === 0 ? 'ROLLBACK' : 'COMMIT',
        topic: 'TxHttpEnds',
      });
      if (i % 3 !== 0) expect(typeof a.body.queueOffset).toBe('number');
    }
    expect([answers[20]!.status, answers[20]!.body.error.code, answers[20]!.body.error.details?.resolution]).toEqual([
      409,
      'TRANSACTION_ALREADY_ENDED',
      'COMMIT',
    ]);
    expect(await storedIds('TxHttpEnds')).toEqual(committed.map((h) => h.messageId).sort());
    expect((await gatewayMetric('cirrusmq_gateway_transaction_ends_total')) - before.ends).toBe(21);
    // How many broker calls they took depends on how the requests fell into event-loop turns
    // (none merged in a CI run): counted, not asserted; turn-batcher.test.ts tests the merging.
    expect((await gatewayMetric('cirrusmq_gateway_broker_end_calls_total')) - before.calls).toBeGreaterThan(0);
  });

  it('refuses bad input with a code', async () => {
    await createTopic('TxBad');
    const send = (body: unknown, query = '') => api(cluster.gatewayUrl, 'POST', `/v1/topics/TxBad/messages${query}`, body);
    const cases: [unknown, string, number, string][] = [
      [{ transaction: true, messages: [{ body: 'x' }] }, '', 400, 'INVALID_GROUP'],
      [{ transaction: 'yes', producerGroup: 'g', messages: [{ body: 'x' }] }, '', 400, 'INVALID_PARAMETER'],
      [{ transaction: true, producerGroup: 'g', messages: [{ body: 'x' }] }, '?mode=oneway', 400, 'INVALID_PARAMETER'],
      [{ transaction: true, producerGroup: 'g', messages: [{ body: 'x', delaySeconds: 5 }] }, '', 400, 'INVALID_MESSAGE'],
      [{ transaction: true, producerGroup: 'g', messages: [{ body: 'x', deliverAt: Date.now() + 60_000 }] }, '', 400, 'INVALID_MESSAGE'],
      [{ transaction: true, producerGroup: 'g', messages: [{ body: 'x' }, { body: 'y', delayTimeLevel: 2 }] }, '', 400, 'INVALID_MESSAGE'],
      [{ transaction: true, producerGroup: '%DLQ%g', messages: [{ body: 'x' }] }, '', 400, 'INVALID_GROUP'],
    ];
    for (const [body, query, status, code] of cases) {
      const res = await send(body, query);
      expect([res.status, res.body.error?.code], JSON.stringify(body)).toEqual([status, code]);
    }
    for (const id of ['nodot', 'XYZ.YQ', `${'A'.repeat(10)}.`]) {
      const res = await end(id, 'commit');
      expect([res.status, res.body.error.code]).toEqual([400, 'INVALID_PARAMETER']);
    }
    const noBroker = await end(`ABCD.${Buffer.from('no-such-broker').toString('base64url')}`, 'rollback');
    expect([noBroker.status, noBroker.body.error.code]).toEqual([404, 'BROKER_NOT_FOUND']);
    const badUrl = await api(cluster.gatewayUrl, 'PUT', '/v1/producer-groups/pg-bad', { checkUrl: 'ftp://x' });
    expect([badUrl.status, badUrl.body.error.code]).toEqual([400, 'INVALID_PARAMETER']);
    const badWait = await api(cluster.gatewayUrl, 'GET', '/v1/transactions/checks?producerGroup=g&waitSeconds=99');
    expect([badWait.status, badWait.body.error.code]).toEqual([400, 'INVALID_PARAMETER']);
    // No transaction was stored by a refused send.
    expect(await storedIds('TxBad')).toEqual([]);
  });

  it('a delayed transactional message is refused (400 INVALID_MESSAGE): by the SDK before sending, and by a broker sent one directly', async () => {
    await createTopic('TxDelayed');
    let executed = 0;
    const producer = new TransactionProducer({
      nameServer,
      producerGroup: 'pg-delayed',
      listener: { executeLocalTransaction: () => (executed++, 'COMMIT'), checkLocalTransaction: () => 'COMMIT' },
    });
    try {
      for (const schedule of [{ deliverAt: Date.now() + 60_000 }, { delaySeconds: 5 }, { delayTimeLevel: 1 }]) {
        const err = await producer.sendMessageInTransaction({ topic: 'TxDelayed', body: 'later', ...schedule }).catch((e: unknown) => e);
        expect((err as CirrusError).code, JSON.stringify(schedule)).toBe('INVALID_MESSAGE');
      }
    } finally {
      producer.shutdown();
    }
    expect(executed).toBe(0);
    // A sender that does not check (the marks set by hand), in both send forms: the broker refuses it.
    const { brokerName } = cluster.config.brokers[0]!;
    const half = (schedule: Record<string, unknown>) => {
      const m = prepareMessage({ topic: 'TxDelayed', body: 'later', ...schedule }, 4096, Date.now());
      m.properties += 'TRAN_MSG\u0001true\u0002PGROUP\u0001pg-delayed\u0002';
      m.propertiesLength = Buffer.byteLength(m.properties);
      return m;
    };
    const m = half({ delaySeconds: 5 });
    for (const body of [encodeSendBatch('TxDelayed', 0, [m]), encodeTimerBatch('TxDelayed', 0, [m], Date.now())!]) {
      const res = await fetch(`${cluster.brokerUrl(brokerName)}/v1/send`, { method: 'POST', headers: { 'content-type': ContentTypes.SEND_BATCH }, body });
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([400, 'INVALID_MESSAGE']);
    }
    // The same message without its schedule is taken: the refusal is the schedule's.
    const unscheduled = half({});
    const ok = await fetch(`${cluster.brokerUrl(brokerName)}/v1/send`, {
      method: 'POST',
      headers: { 'content-type': ContentTypes.SEND_BATCH },
      body: encodeSendBatch('TxDelayed', 0, [unscheduled]),
    });
    expect(ok.status).toBe(200);
    // Rolled back, so no check-back of it counts in another test's metrics.
    const rolledBack = await api(cluster.brokerUrl(brokerName), 'POST', `/v1/transaction/end?messageId=${unscheduled.messageId}&resolution=ROLLBACK`);
    expect(rolledBack.status).toBe(200);
    expect(await storedIds('TxDelayed')).toEqual([]);
  });

  it('SDK with autoBatch: the half messages of senders in one turn go in one request, and each is committed once', async () => {
    await createTopic('TxTurn');
    const producer = new TransactionProducer({
      nameServer,
      producerGroup: 'pg-turn',
      autoBatch: true,
      listener: { executeLocalTransaction: () => 'COMMIT', checkLocalTransaction: () => 'UNKNOWN' },
    });
    try {
      // The route first, so the turn's sends find it cached.
      await producer.sendMessageInTransaction({ topic: 'TxTurn', body: 'first' });
      const before = await brokerMetric('cirrusmq_broker_send_duration_seconds_count', { result: 'SEND_OK' });
      const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.sendMessageInTransaction({ topic: 'TxTurn', body: `m${i}` })));
      expect((await brokerMetric('cirrusmq_broker_send_duration_seconds_count', { result: 'SEND_OK' })) - before).toBe(1);
      expect(new Set(sent.map((r) => r.transactionId)).size).toBe(40);
      expect(await storedIds('TxTurn')).toHaveLength(41);
    } finally {
      producer.shutdown();
    }
  });

  it('SDK: executeLocalTransaction decides; an UNKNOWN one is resolved by checkLocalTransaction over the long poll', async () => {
    await createTopic('TxSdk');
    const decide: Record<string, TransactionResolution> = { a: 'COMMIT', b: 'ROLLBACK', c: 'UNKNOWN' };
    const checked: string[] = [];
    const producer = new TransactionProducer({
      nameServer,
      producerGroup: 'pg-sdk',
      checkWaitMs: 2_000,
      listener: {
        executeLocalTransaction: (msg) => decide[String(msg.body)]!,
        checkLocalTransaction: (check) => {
          checked.push(check.body.toString());
          // The 'd' ones are committed by the test itself.
          return check.body.toString() === 'c' ? 'COMMIT' : 'UNKNOWN';
        },
      },
    });
    try {
      await producer.start();
      const sent = [];
      for (const body of ['a', 'b', 'c']) sent.push(await producer.sendMessageInTransaction({ topic: 'TxSdk', body }));
      expect(sent.map((s) => s.resolution)).toEqual(['COMMIT', 'ROLLBACK', 'UNKNOWN']);
      expect(await storedIds('TxSdk')).toEqual([sent[0]!.messageId]);
      await waitFor('the UNKNOWN one committed by its check-back', 20_000, async () => (await storedIds('TxSdk')).length === 2);
      expect(await storedIds('TxSdk')).toEqual([sent[0]!.messageId, sent[2]!.messageId].sort());
      expect(checked).toEqual(['c']);
      expect(producer.checksResolved).toBe(1);
      // The SDK's own end of a transaction the check-back ended: 409.
      await expect(producer.rollback(sent[2]!.transactionId)).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED' });

      // Concurrent commits to one broker travel merged (POST /v1/transaction/end {"ends": [...]}), each answered on its own.
      decide.d = 'UNKNOWN';
      const many = await Promise.all(
        Array.from({ length: 20 }, () => producer.sendMessageInTransaction({ topic: 'TxSdk', body: 'd', shardingKey: 'one-queue' })),
      );
      const ends = await Promise.allSettled([...many, many[0]!].map((m) => producer.commit(m.transactionId)));
      expect(ends.filter((e) => e.status === 'fulfilled')).toHaveLength(20);
      expect(ends.filter((e) => e.status === 'rejected').map((e) => (e as PromiseRejectedResult).reason.code)).toEqual(['TRANSACTION_ALREADY_ENDED']);
      expect(await storedIds('TxSdk')).toEqual([sent[0]!.messageId, sent[2]!.messageId, ...many.map((m) => m.messageId)].sort());
    } finally {
      producer.shutdown();
    }
  }, 60_000);

  it('SDK through the gateway (HttpTransactionProducer): executeLocalTransaction decides; an UNKNOWN one is resolved by the HTTP long poll', async () => {
    await createTopic('TxHttp');
    const decide: Record<string, TransactionResolution> = { a: 'COMMIT', b: 'ROLLBACK', c: 'UNKNOWN', d: 'UNKNOWN' };
    const checked: string[] = [];
    const producer = new HttpTransactionProducer({
      gateway: cluster.gatewayUrl,
      producerGroup: 'pg-http',
      checkWaitSeconds: 2,
      listener: {
        executeLocalTransaction: (msg) => {
          if (String(msg.body) === 'throws') throw new Error('local transaction failed');
          return decide[String(msg.body)]!;
        },
        checkLocalTransaction: (check) => {
          checked.push(check.body.toString());
          return check.body.toString() === 'c' ? 'COMMIT' : 'UNKNOWN';
        },
      },
    });
    try {
      producer.start();
      const sent = [];
      for (const body of ['a', 'b', 'c', 'throws']) sent.push(await producer.sendMessageInTransaction({ topic: 'TxHttp', body, tags: 'T' }));
      expect(sent.map((s) => s.resolution)).toEqual(['COMMIT', 'ROLLBACK', 'UNKNOWN', 'UNKNOWN']);
      for (const s of sent) expect(s.transactionId).toMatch(new RegExp(`^${s.messageId}\\.`));
      expect(await storedIds('TxHttp')).toEqual([sent[0]!.messageId]);
      await waitFor('the UNKNOWN one committed by its check-back', 20_000, async () => (await storedIds('TxHttp')).length === 2);
      expect(await storedIds('TxHttp')).toEqual([sent[0]!.messageId, sent[2]!.messageId].sort());
      expect(checked).toContain('c');
      expect(producer.checksResolved).toBe(1);
      // Its own end of a transaction already ended: 409; the one left UNKNOWN can still be rolled back by id.
      await expect(producer.rollback(sent[2]!.transactionId)).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED' });
      await producer.rollback(sent[3]!.transactionId);
      expect(await storedIds('TxHttp')).toEqual([sent[0]!.messageId, sent[2]!.messageId].sort());
      // A send the gateway refuses is the caller's error, no transaction begun.
      await expect(producer.sendMessageInTransaction({ topic: 'no-such-topic', body: 'x' })).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    } finally {
      producer.shutdown();
    }
  }, 60_000);

  it('SDK with autoBatch: concurrent half messages share send requests, each answered with its own transaction; commits stored once, rollbacks never', async () => {
    await createTopic('TxBatch');
    const producer = new TransactionProducer({
      nameServer,
      producerGroup: 'pg-batch',
      autoBatch: true,
      listener: {
        executeLocalTransaction: (msg) => (String(msg.body).startsWith('c') ? 'COMMIT' : 'ROLLBACK'),
        checkLocalTransaction: () => 'UNKNOWN',
      },
    });
    try {
      const sends = () => brokerMetric('cirrusmq_broker_send_duration_seconds_count', { result: 'SEND_OK' });
      const halves = () => brokerMetric('cirrusmq_transaction_half_messages_total', {});
      const [sends0, halves0] = [await sends(), await halves()];
      const bodies = Array.from({ length: 60 }, (_, i) => `${i % 3 === 0 ? 'r' : 'c'}${i}`);
      const sent = await Promise.all(bodies.map((body) => producer.sendMessageInTransaction({ topic: 'TxBatch', body })));
      expect(sent.map((s) => s.resolution)).toEqual(bodies.map((b) => (b.startsWith('c') ? 'COMMIT' : 'ROLLBACK')));
      expect(new Set(sent.map((s) => s.transactionId)).size).toBe(60);
      expect((await halves()) - halves0).toBe(60);
      // Merged: far fewer requests than messages (4 in flight at once, the rest wait and leave together).
      const requests = (await sends()) - sends0;
      expect(requests).toBeGreaterThan(0);
      expect(requests).toBeLessThan(30);
      expect(await storedIds('TxBatch')).toEqual(
        sent
          .filter((s) => s.resolution === 'COMMIT')
          .map((s) => s.messageId)
          .sort(),
      );
      // Each transaction id names its own message: a second end of any is a 409.
      for (const s of sent.slice(0, 6)) await expect(producer.commit(s.transactionId)).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED' });
    } finally {
      producer.shutdown();
    }
  }, 60_000);

  it('HTTP: a long poll of GET /v1/transactions/checks answers a check-back, resolved by a commit', async () => {
    await createTopic('TxPoll');
    const [t] = await sendHalf('TxPoll', 'pg-poll', ['polled']);
    const polled = await api(cluster.gatewayUrl, 'GET', '/v1/transactions/checks?producerGroup=pg-poll&waitSeconds=10');
    expect(polled.status).toBe(200);
    expect(polled.body.checks).toHaveLength(1);
    expect(polled.body.checks[0]).toMatchObject({ transactionId: t!.transactionId, topic: 'TxPoll', producerGroup: 'pg-poll', checkTimes: 1 });
    expect(Buffer.from(polled.body.checks[0].body, 'base64').toString()).toBe('polled');
    expect((await end(polled.body.checks[0].transactionId, 'commit')).status).toBe(200);
    expect(await storedIds('TxPoll')).toEqual([t!.messageId]);
    // Nothing left for the group: an empty answer after the wait.
    const empty = await api(cluster.gatewayUrl, 'GET', '/v1/transactions/checks?producerGroup=pg-poll&waitSeconds=0');
    expect(empty.body.checks).toEqual([]);
  }, 60_000);

  it('a check URL answering COMMIT commits; garbage and timeouts count as UNKNOWN and end in a rollback after the last check', async () => {
    await createTopic('TxUrl');
    const good = await checkServer(() => 'COMMIT');
    const garbage = await checkServer(() => '<html>oops</html>');
    const silent = await checkServer(() => undefined);
    for (const [group, url] of [
      ['pg-good', good.url],
      ['pg-garbage', garbage.url],
      ['pg-silent', silent.url],
    ]) {
      const put = await api(cluster.gatewayUrl, 'PUT', `/v1/producer-groups/${group}`, { checkUrl: url });
      expect(put.status).toBe(200);
      expect(put.body.brokers.sort()).toEqual(['broker-a', 'broker-b']);
    }
    const garbageBefore = await brokerMetric('cirrusmq_transaction_check_unknown_total', { reason: 'garbage' });
    const timeoutBefore = await brokerMetric('cirrusmq_transaction_check_unknown_total', { reason: 'timeout' });
    const discardedBefore = await brokerMetric('cirrusmq_transaction_discarded_total', {});
    const [ok] = await sendHalf('TxUrl', 'pg-good', ['ok']);
    const [bad] = await sendHalf('TxUrl', 'pg-garbage', ['bad']);
    const [late] = await sendHalf('TxUrl', 'pg-silent', ['late']);
    await waitFor('the check URL commit', 20_000, async () => (await storedIds('TxUrl')).length === 1);
    expect(await storedIds('TxUrl')).toEqual([ok!.messageId]);
    expect(good.checks[0]).toMatchObject({
      transactionId: ok!.transactionId,
      messageId: ok!.messageId,
      topic: 'TxUrl',
      producerGroup: 'pg-good',
      checkTimes: 1,
    });
    expect(Buffer.from(good.checks[0].body, 'base64').toString()).toBe('ok');

    // Rolled back after CHECK_MAX checks, each counted as UNKNOWN (watched on the metric: a commit to probe would end them).
    const deadline = CHECK_FIRST_MS + CHECK_MAX * CHECK_INTERVAL_MS + 20_000;
    await waitFor(
      'both unanswered transactions rolled back',
      deadline,
      async () => (await brokerMetric('cirrusmq_transaction_discarded_total', {})) >= discardedBefore + 2,
    );
    for (const t of [bad!, late!]) {
      const res = await end(t.transactionId, 'commit');
      expect([res.status, res.body.error.details?.resolution]).toEqual([409, 'ROLLBACK']);
    }
    expect(garbage.checks.length).toBe(CHECK_MAX);
    expect(silent.checks.length).toBe(CHECK_MAX);
    expect((await brokerMetric('cirrusmq_transaction_check_unknown_total', { reason: 'garbage' })) - garbageBefore).toBe(CHECK_MAX);
    expect((await brokerMetric('cirrusmq_transaction_check_unknown_total', { reason: 'timeout' })) - timeoutBefore).toBe(CHECK_MAX);
    expect(await storedIds('TxUrl')).toEqual([ok!.messageId]);
  }, 90_000);

  it('a broker that was down at a check URL PUT takes the URL from a peer when it starts, and calls it', async () => {
    await createTopic('TxLate');
    const good = await checkServer(() => 'COMMIT');
    await cluster.stopProcess('broker-b');
    try {
      // The gateway caches the cluster's brokers for 5 s: retried until it registers with broker-a alone.
      await waitFor('a PUT that reaches broker-a alone', 30_000, async () => {
        const put = await api(cluster.gatewayUrl, 'PUT', '/v1/producer-groups/pg-late', { checkUrl: good.url });
        return put.status === 200 && JSON.stringify(put.body.brokers) === '["broker-a"]';
      });
    } finally {
      await cluster.startProcess('broker-b');
      await cluster.waitForBrokers(['broker-a', 'broker-b']);
    }
    await waitFor('broker-b to adopt pg-late', 20_000, async () => {
      const res = await api(cluster.brokerUrl('broker-b'), 'GET', '/v1/transaction/producer-groups');
      return (res.body?.groups ?? []).some((g: { group: string; checkUrl: string | null }) => g.group === 'pg-late' && g.checkUrl === good.url);
    });
    // Unresolved half messages on both brokers: each broker calls the URL, which commits them.
    const halves: { messageId: string; transactionId: string }[] = [];
    for (let i = 0; i < 8; i++) halves.push(...(await sendHalf('TxLate', 'pg-late', [`late-${i}`])));
    const onB = Buffer.from('broker-b').toString('base64url');
    expect(halves.some((h) => h.transactionId.endsWith(`.${onB}`))).toBe(true);
    await waitFor('every half message committed by the check URL', 30_000, async () => (await storedIds('TxLate')).length === halves.length);
    expect(await storedIds('TxLate')).toEqual(halves.map((h) => h.messageId).sort());
  }, 90_000);

  it('pending transactions survive a SIGKILL of both brokers: nothing visible after the restart, then a commit works', async () => {
    await createTopic('TxCrash');
    // A group without a check URL or poller: its transactions wait for their producer.
    const sent = await sendHalf('TxCrash', 'pg-crash', ['p1', 'p2', 'p3', 'p4']);
    expect((await end(sent[3]!.transactionId, 'rollback')).status).toBe(200);
    await cluster.stopProcess('broker-a', 'SIGKILL');
    await cluster.stopProcess('broker-b', 'SIGKILL');
    await cluster.startProcess('broker-a');
    await cluster.startProcess('broker-b');
    expect(await storedIds('TxCrash')).toEqual([]);
    const committed = [];
    for (const s of sent.slice(0, 2)) {
      // The gateway may still see the restarted broker as gone for a moment.
      let res = await end(s.transactionId, 'commit');
      await waitFor('the commit answered', 10_000, async () => {
        if (res.status === 503) res = await end(s.transactionId, 'commit');
        return res.status !== 503;
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      committed.push(s.messageId);
    }
    expect((await end(sent[2]!.transactionId, 'rollback')).status).toBe(200);
    expect((await end(sent[3]!.transactionId, 'commit')).status).toBe(409);
    expect(await storedIds('TxCrash')).toEqual(committed.sort());
  }, 90_000);
});
