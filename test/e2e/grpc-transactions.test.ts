/**
 * Transactional messages from the official RocketMQ 5 client through the gRPC proxy, every
 * part a real process (NameServer, two brokers, gateway, proxy), with short check-back
 * timings: a commit is stored in its queue once, a rollback never; a transaction left open
 * is pushed back to a producer of its topic as a RecoverOrphanedTransactionCommand (also to
 * one started after the sender went away), whose checker's COMMIT stores it once; the
 * proxy's check-back polls stop when no producer is left; EndTransaction with an id no send
 * answered gets INVALID_TRANSACTION_ID and the proxy keeps serving; a transaction open while
 * the proxy is SIGKILLed is checked back through the restarted one.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { type MessageView, Producer } from 'rocketmq-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagingServiceClient } from '../../grpc-proxy/src/proto';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';
import { sample } from '../support/prometheus-text';
import { memoryLogger } from '../support/rmq-official-client';

// The enum the client's checker answers with, from the same generated module the client uses.
const { TransactionResolution } = createRequire(import.meta.url)('rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb.js');

const QUEUES = 2;
const CHECK_FIRST_MS = 1_500;
const CHECK_INTERVAL_MS = 1_500;
let cluster: LocalCluster;
let endpoints: string;
let raw: grpc.Client & Record<string, any>;
const producers: Producer[] = [];

/** What the checkers were asked, and what they answer: COMMIT for a body starting "orphan", else nothing (UNSPECIFIED). */
const checked: { producer: string; view: MessageView }[] = [];

beforeAll(async () => {
  cluster = await startTestCluster({
    grpcProxy: true,
    env: {
      CIRRUSMQ_TRANSACTION_CHECK_FIRST_MS: String(CHECK_FIRST_MS),
      CIRRUSMQ_TRANSACTION_CHECK_INTERVAL_MS: String(CHECK_INTERVAL_MS),
      CIRRUSMQ_TRANSACTION_CHECK_MAX: '50',
    },
  });
  endpoints = cluster.grpcProxyEndpoint!;
  raw = new (messagingServiceClient())(endpoints, grpc.credentials.createInsecure()) as any;
}, 120_000);
afterAll(async () => {
  for (const p of producers) await p.shutdown().catch(() => {});
  raw?.close();
  await stopTestCluster(cluster);
});

async function createTopic(topic: string): Promise<void> {
  const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: QUEUES });
  expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
}

/** A started transactional producer (startup waits for the proxy's settings; bounded here). */
async function startProducer(name: string, topics: string[]): Promise<Producer> {
  const logger = memoryLogger();
  const producer = new Producer({
    endpoints,
    namespace: '',
    topics,
    logger,
    requestTimeout: 5_000,
    checker: {
      check: async (view: MessageView) => {
        checked.push({ producer: name, view });
        return view.body.toString().startsWith('orphan') ? TransactionResolution.COMMIT : TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED;
      },
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`producer startup took over 20 s:\n${logger.lines.slice(-20).join('\n')}`)), 20_000);
  });
  try {
    await Promise.race([producer.startup(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  producers.push(producer);
  return producer;
}

/** How many times each message id is in the topic's queues (what any consumer could ever get), read over HTTP. */
async function storedCounts(topic: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { brokerName } of cluster.config.brokers) {
    for (let q = 0; q < QUEUES; q++) {
      for (const m of await readWholeQueue(cluster.gatewayUrl, topic, brokerName, q)) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
    }
  }
  return counts;
}

async function proxyMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.config.grpcProxy!.healthPort}/metrics`)).text();
  return sample(text, name, labels) ?? 0;
}

function call(method: string, request: object): Promise<any> {
  const md = new grpc.Metadata();
  md.set('x-mq-client-id', 'grpc-transactions-test');
  return new Promise((resolve, reject) => {
    raw[method](request, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res)));
  });
}

describe('transactional messages over gRPC', () => {
  it('a commit is stored once, a rollback never; a second commit is OK, a rollback after it BAD_REQUEST', async () => {
    const topic = 'grpc-tx-basic';
    await createTopic(topic);
    const producer = await startProducer('basic', [topic]);

    const commitTx = producer.beginTransaction();
    const committed = await producer.send({ topic, body: Buffer.from('commit me'), tag: 'TagA', keys: ['k1'] }, commitTx);
    expect(committed.transactionId).toMatch(/^[0-9A-F]+\.[A-Za-z0-9_-]+$/);
    expect(committed.transactionId.startsWith(`${committed.messageId}.`)).toBe(true);
    const rollbackTx = producer.beginTransaction();
    const rolledBack = await producer.send({ topic, body: Buffer.from('roll me back') }, rollbackTx);
    // Half messages are in no queue until they end.
    expect((await storedCounts(topic)).size).toBe(0);

    await commitTx.commit();
    await rollbackTx.rollback();
    await waitFor('the committed message in its queue', 20_000, async () => (await storedCounts(topic)).get(committed.messageId) === 1);

    // Ending it again the same way is OK (a commit racing a check-back's commit); the other way is refused.
    await commitTx.commit();
    const reverse = await call('EndTransaction', {
      topic: { name: topic },
      message_id: committed.messageId,
      transaction_id: committed.transactionId,
      resolution: 'ROLLBACK',
      source: 'SOURCE_CLIENT',
    });
    expect(reverse.status.code).toBe('BAD_REQUEST');

    // A later commit is in its queue: the rollback, ended before it, is not.
    const laterTx = producer.beginTransaction();
    const later = await producer.send({ topic, body: Buffer.from('later') }, laterTx);
    await laterTx.commit();
    await waitFor('the later commit in its queue', 20_000, async () => (await storedCounts(topic)).has(later.messageId));
    const counts = await storedCounts(topic);
    expect(counts.get(rolledBack.messageId)).toBeUndefined();
    expect(counts.get(committed.messageId)).toBe(1);
  }, 60_000);

  it("a transaction left open is checked back on the producer's Telemetry stream; its checker's COMMIT stores it once", async () => {
    const topic = 'grpc-tx-orphan';
    await createTopic(topic);
    const producer = await startProducer('orphan', [topic]);
    const tx = producer.beginTransaction();
    const receipt = await producer.send(
      {
        topic,
        body: Buffer.from('orphan: neither committed nor rolled back'),
        tag: 'TagO',
        keys: ['order-1', 'order-2'],
        properties: new Map([['shop', 'north']]),
      },
      tx,
    );
    expect((await storedCounts(topic)).size).toBe(0);

    await waitFor('a check-back of the open transaction', 30_000, async () => checked.some((c) => c.view.messageId === receipt.messageId));
    const { producer: who, view } = checked.find((c) => c.view.messageId === receipt.messageId)!;
    expect(who).toBe('orphan');
    expect(view.topic).toBe(topic);
    expect(view.body.toString()).toBe('orphan: neither committed nor rolled back');
    expect(view.corrupted).not.toBe(true); // set only when the body digest does not match
    expect(view.tag).toBe('TagO');
    expect(view.keys).toEqual(['order-1', 'order-2']);
    expect(Object.fromEntries(view.properties)).toEqual({ shop: 'north' });

    await waitFor('the checked-back commit in its queue', 20_000, async () => (await storedCounts(topic)).get(receipt.messageId) === 1);
    expect(await proxyMetric('cirrusmq_grpc_proxy_transaction_checks_total', { result: 'forwarded' })).toBeGreaterThanOrEqual(1);
    // Committed: never checked again, never stored twice. A second open transaction sent now is
    // checked at least one check pass later, so by then the first has had its chance to be.
    const asked = checked.filter((c) => c.view.messageId === receipt.messageId).length;
    const tx2 = producer.beginTransaction();
    const second = await producer.send({ topic, body: Buffer.from('orphan too') }, tx2);
    await waitFor('the second checked-back commit in its queue', 30_000, async () => (await storedCounts(topic)).get(second.messageId) === 1);
    expect(checked.filter((c) => c.view.messageId === receipt.messageId).length).toBe(asked);
    expect((await storedCounts(topic)).get(receipt.messageId)).toBe(1);
  }, 90_000);

  it('a transaction whose producer went away is checked back on another producer of its topic; polls stop when the last one leaves', async () => {
    const topic = 'grpc-tx-handover';
    await createTopic(topic);
    const first = await startProducer('first', [topic]);
    const tx = first.beginTransaction();
    const receipt = await first.send({ topic, body: Buffer.from('orphan of a producer gone') }, tx);
    // NotifyClientTermination: the proxy forgets it, and no producer of the topic is left.
    await first.shutdown();
    producers.splice(producers.indexOf(first), 1);

    await startProducer('second', [topic]);
    await waitFor('the check-back on the second producer', 30_000, async () =>
      checked.some((c) => c.view.messageId === receipt.messageId && c.producer === 'second'),
    );
    await waitFor('the handed-over commit in its queue', 20_000, async () => (await storedCounts(topic)).get(receipt.messageId) === 1);

    // One group with a producer: one poll per broker. Every producer gone: none on any broker.
    expect(await proxyMetric('cirrusmq_grpc_proxy_transaction_check_polls')).toBeGreaterThanOrEqual(cluster.config.brokers.length);
    for (const p of producers.splice(0)) await p.shutdown();
    await waitFor('no check-back poll left', 20_000, async () => (await proxyMetric('cirrusmq_grpc_proxy_transaction_check_polls')) === 0);
  }, 90_000);

  it('EndTransaction with an id no send answered is INVALID_TRANSACTION_ID, and the proxy keeps serving', async () => {
    const topic = 'grpc-tx-bad-end';
    await createTopic(topic);
    const end = (transactionId: string, resolution = 'COMMIT') =>
      call('EndTransaction', { topic: { name: topic }, message_id: 'AB', transaction_id: transactionId, resolution, source: 'SOURCE_CLIENT' });
    const brokerA = Buffer.from('broker-a').toString('base64url');
    expect((await end(`${'AB'.repeat(16)}.${brokerA}`)).status.code).toBe('INVALID_TRANSACTION_ID');
    expect((await end(`${'CD'.repeat(16)}.${brokerA}`, 'ROLLBACK')).status.code).toBe('INVALID_TRANSACTION_ID');
    expect((await end('not a transaction id')).status.code).toBe('INVALID_TRANSACTION_ID');
    expect((await end('')).status.code).toBe('INVALID_TRANSACTION_ID');
    expect((await end(`${'AB'.repeat(16)}.${brokerA}`, 'TRANSACTION_RESOLUTION_UNSPECIFIED')).status.code).toBe('BAD_REQUEST');
    expect((await end(`${'AB'.repeat(16)}.${Buffer.from('no-such-broker').toString('base64url')}`)).status.code).toBe('NOT_FOUND');

    const producer = await startProducer('after-bad-ends', [topic]);
    const tx = producer.beginTransaction();
    const receipt = await producer.send({ topic, body: Buffer.from('still serving') }, tx);
    await tx.commit();
    await waitFor('the commit after bad ends in its queue', 20_000, async () => (await storedCounts(topic)).get(receipt.messageId) === 1);
    const plain = await producer.send({ topic, body: Buffer.from('plain') });
    expect(plain.transactionId).toBe('');
  }, 60_000);

  it('a transaction left open when the proxy is SIGKILLed is checked back once the restarted proxy has the reconnected producer', async () => {
    const topic = 'grpc-tx-proxy-kill';
    await createTopic(topic);
    const producer = await startProducer('proxy-kill', [topic]);
    const tx = producer.beginTransaction();
    const receipt = await producer.send({ topic, body: Buffer.from('orphan across a proxy restart') }, tx);
    await cluster.stopProcess('grpc-proxy', 'SIGKILL');
    await cluster.startProcess('grpc-proxy');
    // The client renews its Telemetry stream by itself and sends its settings again: the new proxy polls for its topic.
    await waitFor('the check-back through the restarted proxy', 45_000, async () =>
      checked.some((c) => c.view.messageId === receipt.messageId && c.producer === 'proxy-kill'),
    );
    await waitFor('the commit after the proxy restart in its queue', 20_000, async () => (await storedCounts(topic)).get(receipt.messageId) === 1);
  }, 90_000);
});
