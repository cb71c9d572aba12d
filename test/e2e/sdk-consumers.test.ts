/**
 * The SDK's consumers and the CLI's consume against a real cluster (NameServer, two brokers,
 * gateway as processes): SimpleConsumer direct to the brokers and through the gateway, four
 * at once, each of 10,000 messages handled exactly once; long polling; a tag filter; an orderly
 * group's sharding-key order under two PushConsumers; a PushConsumer whose listener fails a message
 * once sees it again as attempt 2, and one that always fails reaches the DLQ and is redriven;
 * a PullConsumer's assign / poll / commit / seek; and
 * `cirrusmq consume --count`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsumeResult, type MessageView, Producer, PullConsumer, PushConsumer, SimpleConsumer } from '@cirrusmq/client';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { runCli } from '../support/cli';
import { api, parkedReceives, readWholeQueue, startTestCluster, stopTestCluster, waitUntilParked } from '../support/cluster';

let cluster: LocalCluster;
let producer: Producer;
let nameServer: string;

beforeAll(async () => {
  cluster = await startTestCluster();
  nameServer = cluster.nameServerUrl.replace(/^http:\/\//, '');
  producer = new Producer({ nameServer });
}, 60_000);
afterAll(async () => {
  producer?.shutdown();
  await stopTestCluster(cluster);
});

async function createTopic(topic: string): Promise<void> {
  const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: 4 });
  expect(res.status).toBe(201);
}

/** A group that reads the topic from its start: messages sent before its first receive count. */
async function createGroup(group: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest', ...extra });
  expect(res.status).toBe(201);
}

/** Sends `n` messages with bodies `${prefix}-{i}` in batches; returns their ids. */
async function sendMany(topic: string, n: number, prefix: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ topic, body: `${prefix}-${i + j}` }));
    for (const r of await producer.sendBatch(batch)) ids.add(r.messageId);
  }
  expect(ids.size).toBe(n);
  return ids;
}

/** Four consumers of one group receive and ack until `expected` messages were handled between them. */
async function consumeWithFour(make: () => SimpleConsumer, expected: number): Promise<Map<string, number>> {
  const handled = new Map<string, number>();
  const consumers = Array.from({ length: 4 }, make);
  const deadline = Date.now() + 100_000;
  let total = 0;
  try {
    await Promise.all(
      consumers.map(async (c) => {
        while (total < expected && Date.now() < deadline) {
          const messages = await c.receive(32);
          for (const m of messages) {
            handled.set(m.messageId, (handled.get(m.messageId) ?? 0) + 1);
            expect(m.deliveryAttempt).toBe(1);
          }
          total += messages.length;
          const errors = await c.ackAll(messages);
          expect(errors.filter((e) => e !== null)).toEqual([]);
        }
      }),
    );
    // Nothing is left to deliver: every lease was acked, none comes back.
    const again = await consumers[0]!.receive(32);
    expect(again.map((m) => m.messageId)).toEqual([]);
  } finally {
    for (const c of consumers) c.close();
  }
  return handled;
}

function expectExactlyOnce(handled: Map<string, number>, sent: Set<string>): void {
  expect([...sent].filter((id) => !handled.has(id)).slice(0, 5)).toEqual([]);
  expect([...handled].filter(([, n]) => n !== 1).slice(0, 5)).toEqual([]);
  expect([...handled.keys()].filter((id) => !sent.has(id)).slice(0, 5)).toEqual([]);
}

async function lag(topic: string, group: string): Promise<{ lag: number; inFlight: number }> {
  const res = await api(cluster.gatewayUrl, 'GET', `/v1/topics/${topic}/groups/${group}`);
  expect(res.status).toBe(200);
  return { lag: res.body.totals.lag, inFlight: res.body.totals.inFlight };
}

describe('SimpleConsumer', () => {
  it('direct to the brokers: four consumers of one group handle each of 10,000 messages exactly once', async () => {
    await createTopic('orders');
    await createGroup('billing');
    const sent = await sendMany('orders', 10_000, 'direct');
    const handled = await consumeWithFour(() => new SimpleConsumer({ nameServer, group: 'billing', topics: ['orders'], awaitDuration: 1_000 }), sent.size);
    expectExactlyOnce(handled, sent);
    expect(await lag('orders', 'billing')).toEqual({ lag: 0, inFlight: 0 });
  }, 120_000);

  it('through the gateway: the same with another group on the same topic, which gets every message too', async () => {
    await createGroup('audit');
    const res = await api(cluster.gatewayUrl, 'GET', '/v1/topics/orders/groups/audit');
    expect(res.body.totals.lag).toBe(10_000);
    const sent = new Set<string>();
    for (let q = 0; q < 4; q++) {
      for (const b of ['broker-a', 'broker-b']) {
        for (const m of await readWholeQueue(cluster.gatewayUrl, 'orders', b, q)) sent.add(m.messageId);
      }
    }
    expect(sent.size).toBe(10_000);
    const handled = await consumeWithFour(
      () => new SimpleConsumer({ gateway: cluster.gatewayUrl, group: 'audit', topics: ['orders'], awaitDuration: 1_000 }),
      sent.size,
    );
    expectExactlyOnce(handled, sent);
    expect(await lag('orders', 'audit')).toEqual({ lag: 0, inFlight: 0 });
  }, 120_000);

  it('a long-polling receive answers as soon as a message arrives, and changeInvisibleDuration renews the handle', async () => {
    await createTopic('alerts');
    await createGroup('pager');
    const consumer = new SimpleConsumer({ nameServer, group: 'pager', subscriptions: { alerts: '*' }, awaitDuration: 20_000 });
    try {
      const parkedBefore = await parkedReceives(cluster);
      const waiting = consumer.receive(1);
      let sentAt = 0;
      const sender = (async () => {
        await waitUntilParked(cluster, parkedBefore);
        sentAt = Date.now();
        // One message, on one of the two brokers: the receive long-polls both.
        await producer.send({ topic: 'alerts', body: 'a0' });
      })();
      const [m] = await waiting;
      const latency = Date.now() - sentAt;
      await sender;
      expect(m).toBeDefined();
      // Far below the 20 s wait: the arrival woke the receive.
      expect(latency).toBeLessThan(3_000);
      // The poll on the broker that had nothing was told to end its wait (END_WAIT): it leaves
      // now, not in 20 s, so it cannot take that broker's next message for a receive already answered.
      await waitFor('the other long poll ended', 5_000, async () => (await parkedReceives(cluster)).every((n, i) => n <= parkedBefore[i]!));
      const before = m!.receiptHandle;
      await consumer.changeInvisibleDuration(m!, 60_000);
      expect(m!.receiptHandle).not.toBe(before);
      const stale: MessageView = { ...m!, receiptHandle: before };
      await expect(consumer.ack(stale)).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_EXPIRED' });
      await consumer.ack(m!);
      await expect(consumer.ack(m!)).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_EXPIRED' });
    } finally {
      consumer.close();
    }
  }, 60_000);

  it('a subscription with a tag filter receives only those tags', async () => {
    await createTopic('events');
    await createGroup('only-a');
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, i) => producer.send({ topic: 'events', body: `e${i}`, tags: i % 2 === 0 ? 'TagA' : 'TagB' })),
    );
    const wanted = new Set(sent.filter((_, i) => i % 2 === 0).map((r) => r.messageId));
    const consumer = new SimpleConsumer({ gateway: cluster.gatewayUrl, group: 'only-a', subscriptions: { events: 'TagA' }, awaitDuration: 1_000 });
    const got: MessageView[] = [];
    try {
      await waitFor('every TagA message', 30_000, async () => {
        const batch = await consumer.receive(32);
        got.push(...batch);
        await consumer.ackAll(batch);
        return got.length >= wanted.size;
      });
      expect(await consumer.receive(32)).toEqual([]);
    } finally {
      consumer.close();
    }
    expect(got.every((m) => m.tags === 'TagA')).toBe(true);
    expect(new Set(got.map((m) => m.messageId))).toEqual(wanted);
  }, 60_000);
});

describe('PushConsumer', () => {
  it('a message whose listener failed once comes back with deliveryAttempt 2; SUCCESS acks', async () => {
    await createTopic('jobs');
    await createGroup('workers');
    const sent = await sendMany('jobs', 40, 'job');
    const attempts = new Map<string, number[]>();
    let failedId: string | undefined;
    const consumer = new PushConsumer({
      nameServer,
      group: 'workers',
      topics: ['jobs'],
      awaitDuration: 1_000,
      consumptionThreadCount: 4,
      messageListener: async (m) => {
        attempts.set(m.messageId, [...(attempts.get(m.messageId) ?? []), m.deliveryAttempt]);
        if (failedId === undefined) failedId = m.messageId;
        return m.messageId === failedId && m.deliveryAttempt === 1 ? 'FAILURE' : 'SUCCESS';
      },
    });
    await consumer.start();
    try {
      await waitFor('the failed message redelivered', 30_000, async () => (attempts.get(failedId ?? '')?.length ?? 0) >= 2 && attempts.size === sent.size);
    } finally {
      await consumer.shutdown();
    }
    expect(attempts.get(failedId!)).toEqual([1, 2]);
    expect([...attempts].filter(([id, a]) => id !== failedId && (a.length !== 1 || a[0] !== 1))).toEqual([]);
    await waitFor('nothing in flight', 10_000, async () => (await lag('jobs', 'workers')).inFlight === 0);
    expect(await lag('jobs', 'workers')).toEqual({ lag: 0, inFlight: 0 });
  }, 60_000);
});

describe('retries and dead letters', () => {
  it('a message failed retryMaxTimes + 1 times goes to the DLQ with backoff between attempts; a redrive brings it back', async () => {
    await createTopic('payments');
    await createGroup('settle', { retryMaxTimes: 1 });
    const deliveries: { attempt: number; at: number }[] = [];
    let poisoned = true;
    const consumer = new PushConsumer({
      nameServer,
      group: 'settle',
      topics: ['payments'],
      awaitDuration: 1_000,
      messageListener: (m) => {
        deliveries.push({ attempt: m.deliveryAttempt, at: Date.now() });
        return poisoned ? ConsumeResult.FAILURE : ConsumeResult.SUCCESS;
      },
    });
    await consumer.start();
    try {
      await producer.send({ topic: 'payments', body: 'poison' });
      const progress = async () => (await api(cluster.gatewayUrl, 'GET', '/v1/topics/payments/groups/settle')).body;
      await waitFor('the message dead-lettered', 30_000, async () => (await progress()).deadLettered === 1);
      expect(deliveries.map((d) => d.attempt)).toEqual([1, 2]);
      // The first failure's backoff (1 s) held the second delivery back.
      expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(900);
      expect((await progress()).totals).toMatchObject({ lag: 0, inFlight: 0 });

      poisoned = false;
      const redrive = await api(cluster.gatewayUrl, 'POST', '/v1/groups/settle/dlq/redrive', { max: 100 });
      expect(redrive.body).toMatchObject({ redriven: 1 });
      await waitFor('the redriven message handled', 30_000, async () => deliveries.length === 3);
      expect(deliveries[2]!.attempt).toBe(1);
    } finally {
      await consumer.shutdown();
    }
  }, 60_000);
});

describe('orderly group', () => {
  it('two PushConsumers keep each sharding key in send order, a failed message holding back its queue', async () => {
    await createTopic('ledger');
    await createGroup('fifo', { orderly: true });
    const keys = Array.from({ length: 8 }, (_, i) => `account-${i}`);
    const perKey = 40;
    // Each key's messages one after another, the keys side by side.
    await Promise.all(
      keys.map(async (key) => {
        for (let i = 0; i < perKey; i++) await producer.send({ topic: 'ledger', body: `${key}:${i}`, shardingKey: key });
      }),
    );
    const handled = new Map<string, number[]>();
    let failed: string | undefined;
    const busyKeys = new Set<string>();
    let overlapped = 0;
    const listener = async (m: MessageView) => {
      const [key, seq] = m.body.toString().split(':') as [string, string];
      if (busyKeys.has(key)) overlapped++;
      busyKeys.add(key);
      try {
        await new Promise((r) => setImmediate(r));
        if (failed === undefined && Number(seq) === 5) {
          failed = `${key}:${seq}`;
          return ConsumeResult.FAILURE;
        }
        handled.set(key, [...(handled.get(key) ?? []), Number(seq)]);
        return ConsumeResult.SUCCESS;
      } finally {
        busyKeys.delete(key);
      }
    };
    // Orderly comes from the group's config (the NameServer), not from an option.
    const consumers = [0, 1].map(
      () => new PushConsumer({ nameServer, group: 'fifo', topics: ['ledger'], awaitDuration: 1_000, consumptionThreadCount: 8, messageListener: listener }),
    );
    await Promise.all(consumers.map((c) => c.start()));
    try {
      await waitFor('every message handled', 60_000, async () => [...handled.values()].reduce((n, s) => n + s.length, 0) >= keys.length * perKey);
    } catch (e) {
      // What was handled and where the group stands, to tell a stuck queue from a slow machine.
      const progress = await api(cluster.gatewayUrl, 'GET', '/v1/topics/ledger/groups/fifo');
      throw new Error(
        `${(e as Error).message}; failed ${failed}; handled ${JSON.stringify([...handled].map(([k, v]) => [k, v.length]))}; queues ${JSON.stringify(progress.body.queues)}`,
      );
    } finally {
      await Promise.all(consumers.map((c) => c.shutdown()));
    }
    expect(failed).toBeDefined();
    for (const key of keys) expect(handled.get(key)).toEqual(Array.from({ length: perKey }, (_, i) => i));
    expect(overlapped).toBe(0);
  }, 90_000);
});

describe('PullConsumer', () => {
  it('assign, poll, commit, a new consumer resumes at the committed offsets, seek re-reads, commit never goes back', async () => {
    await createTopic('stream');
    await createGroup('etl');
    const sent = await sendMany('stream', 300, 'row');
    const first = new PullConsumer({ nameServer, group: 'etl' });
    const read = new Set<string>();
    let queues;
    try {
      queues = await first.assign('stream');
      expect(queues).toHaveLength(8);
      expect(first.assignment().every((p) => p.offset === 0)).toBe(true);
      while (read.size < sent.size) {
        const batch = await first.poll(2_000);
        expect(batch.length).toBeGreaterThan(0);
        for (const m of batch) read.add(m.messageId);
      }
      expect([...sent].filter((id) => !read.has(id))).toEqual([]);
      await first.commit();
      expect(
        first
          .assignment()
          .map((p) => p.committed)
          .reduce((a, b) => a + b, 0),
      ).toBe(300);
    } finally {
      first.close();
    }
    expect((await lag('stream', 'etl')).lag).toBe(0);

    const second = new PullConsumer({ nameServer, group: 'etl', pollIntervalMs: 20 });
    try {
      await second.assign('stream');
      expect(
        second
          .assignment()
          .map((p) => p.offset)
          .reduce((a, b) => a + b, 0),
      ).toBe(300);
      expect(await second.poll(200)).toEqual([]);
      const q = second.assignment().find((p) => p.committed > 0)!;
      second.seek(q, 0);
      const again = await second.poll(2_000);
      expect(again.length).toBe(Math.min(q.committed, 32));
      expect(again.every((m) => m.queueId === q.queueId && m.brokerName === q.brokerName)).toBe(true);
      expect(again[0]!.queueOffset).toBe(0);
      // Behind the committed offset: nothing to commit, and the broker keeps the higher one.
      await second.commit();
      expect((await lag('stream', 'etl')).lag).toBe(0);
    } finally {
      second.close();
    }
  }, 60_000);
});

describe('cirrusmq consume', () => {
  it('prints and acks --count messages, shows progress on stderr, then a drained group receives nothing', async () => {
    await createTopic('cli-topic');
    await createGroup('cli-group');
    const sent = await sendMany('cli-topic', 50, 'cli');
    const run = await cli(['consume', 'cli-topic', '--group', 'cli-group', '--count', '50', '--wait', '2']);
    expect(run.stderr).toContain('received 50/50, ack failed 0');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(50);
    expect(new Set(lines.map((l) => l.split('\t')[1]))).toEqual(sent);
    expect(lines.every((l) => /^\d+\t\S+\t-\t"cli-\d+"\tattempt=1$/.test(l))).toBe(true);
    expect(await lag('cli-topic', 'cli-group')).toEqual({ lag: 0, inFlight: 0 });

    const empty = await cli(['consume', 'cli-topic', '--group', 'cli-group', '--wait', '0']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toContain('received 0');

    const describe = await cli(['group', 'describe', 'cli-group', '--topic', 'cli-topic']);
    expect(describe.code).toBe(0);
    expect(describe.stdout).toMatch(/^total\s+50\s+50\s+0\s+0$/m);

    const reset = await cli(['group', 'reset', 'cli-group', '--topic', 'cli-topic', '--to', 'earliest']);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/^total\s+50\s+0\s+0\s+50$/m);

    const list = await cli(['group', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^cli-group\s+16\s+no\s+earliest$/m);
  }, 60_000);
});

/** Runs the cirrusmq CLI against the test gateway. */
const cli = (args: string[]) => runCli(cluster.gatewayUrl, args);

// Last in the file: it kills and restarts broker-b.
describe('a broker killed under a SimpleConsumer', () => {
  it('receives go on from the live broker without an error; after the restart the rest arrives and the leases open at the kill come back as attempt 2', async () => {
    await createTopic('resilient');
    await createGroup('survivor');
    const brokerOf = new Map<string, string>();
    for (let i = 0; i < 400; i += 50) {
      const batch = Array.from({ length: 50 }, (_, j) => ({ topic: 'resilient', body: `r-${i + j}` }));
      // One message at a time spreads them over both brokers' queues.
      for (const r of await Promise.all(batch.map((m) => producer.send(m)))) brokerOf.set(r.messageId, r.messageQueue.brokerName);
    }
    const onA = [...brokerOf].filter(([, b]) => b === 'broker-a').map(([id]) => id);
    expect(onA.length).toBeGreaterThan(0);
    expect(onA.length).toBeLessThan(400);
    const consumer = new SimpleConsumer({ nameServer, group: 'survivor', topics: ['resilient'], awaitDuration: 500, invisibleDuration: 5_000 });
    const acked = new Set<string>();
    const attempts = new Map<string, number[]>();
    const receiveAndAck = async (keep?: (m: MessageView) => boolean): Promise<MessageView[]> => {
      const batch = await consumer.receive(32);
      for (const m of batch) attempts.set(m.messageId, [...(attempts.get(m.messageId) ?? []), m.deliveryAttempt]);
      const toAck = batch.filter((m) => !keep?.(m));
      const errors = await consumer.ackAll(toAck);
      expect(errors.filter((e) => e !== null)).toEqual([]);
      for (const m of toAck) acked.add(m.messageId);
      return batch.filter((m) => keep?.(m));
    };
    try {
      const leasedOnB: MessageView[] = [];
      await waitFor('a batch leased on broker-b', 20_000, async () => {
        leasedOnB.push(...(await receiveAndAck((m) => m.brokerName === 'broker-b')));
        return leasedOnB.length > 0;
      });
      await cluster.stopProcess('broker-b', 'SIGKILL');
      // Every receive below would throw if a dead broker's failure reached the caller.
      await waitFor('every message of broker-a acked', 30_000, async () => {
        await receiveAndAck();
        return onA.every((id) => acked.has(id));
      });
      await cluster.startProcess('broker-b');
      await waitFor('every message acked', 60_000, async () => {
        await receiveAndAck();
        return acked.size === brokerOf.size;
      });
      for (const m of leasedOnB) expect(attempts.get(m.messageId)).toEqual([1, 2]);
    } finally {
      consumer.close();
    }
  }, 120_000);
});
