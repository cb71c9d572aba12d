/**
 * The official RocketMQ 5 Node client (rocketmq-client-nodejs) producing through the gRPC
 * proxy, every part a real process (NameServer, two brokers, gateway, proxy), and what it sent
 * read back over the HTTP API: bodies byte for byte, tags, keys, user properties, the
 * client's own message ids and the offsets its receipts name; a message group's messages in
 * one queue in send order; a proxy SIGKILLed and restarted under a live producer; a client
 * that shuts down and starts again; a broker SIGKILLed under a live producer.
 */
import { randomBytes } from 'node:crypto';
import type { Producer } from 'rocketmq-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';
import { memoryLogger, startOfficialProducer } from '../support/rmq-official-client';

const QUEUES = 4;
let cluster: LocalCluster;
let endpoints: string;
const producers: Producer[] = [];

beforeAll(async () => {
  cluster = await startTestCluster({ grpcProxy: true });
  endpoints = cluster.grpcProxyEndpoint!;
}, 120_000);
afterAll(async () => {
  for (const p of producers) await p.shutdown().catch(() => {});
  await stopTestCluster(cluster);
});

async function createTopic(topic: string): Promise<void> {
  const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: QUEUES });
  expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
}

async function producerFor(topic: string): Promise<Producer> {
  const p = await startOfficialProducer(endpoints, [topic]);
  producers.push(p);
  return p;
}

interface Stored {
  broker: string;
  queueId: number;
  queueOffset: number;
  storeTimestamp: number;
  messageId: string;
  body: Buffer;
  tags?: string;
  keys: string[];
  properties: Record<string, string>;
}

/** Every message of the topic, read through the gateway queue by queue. */
async function readTopic(topic: string): Promise<Stored[]> {
  const out: Stored[] = [];
  for (const { brokerName } of cluster.config.brokers) {
    for (let q = 0; q < QUEUES; q++) {
      for (const m of await readWholeQueue(cluster.gatewayUrl, topic, brokerName, q)) {
        out.push({ ...m, broker: brokerName, queueId: q, body: Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8') });
      }
    }
  }
  return out;
}

describe('the official producer through the gRPC proxy', () => {
  it('sends 1,000 messages with tags, keys and properties that read back byte for byte over HTTP, under the ids and offsets the receipts name', async () => {
    const topic = 'grpc-produce-roundtrip';
    await createTopic(topic);
    const producer = await producerFor(topic);
    const bodies = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? randomBytes(16 + (i % 300)) : Buffer.from(`text message ${i} ✓`)));
    const receipts: { messageId: string; offset: number }[] = new Array(bodies.length);
    for (let i = 0; i < bodies.length; i += 50) {
      await Promise.all(
        bodies.slice(i, i + 50).map(async (body, j) => {
          const n = i + j;
          const properties = new Map([
            ['n', String(n)],
            ['origin', 'grpc'],
          ]);
          receipts[n] = await producer.send({ topic, body, tag: `tag-${n % 3}`, keys: [`key-${n}`, `k2-${n}`], properties });
        }),
      );
    }
    const stored = await readTopic(topic);
    expect(stored.length).toBe(1000);
    const byN = new Map(stored.map((m) => [Number(m.properties.n), m]));
    expect(byN.size).toBe(1000);
    for (let n = 0; n < 1000; n++) {
      const m = byN.get(n)!;
      expect(m.body.equals(bodies[n]!), `body of message ${n}`).toBe(true);
      expect(m.tags).toBe(`tag-${n % 3}`);
      expect(m.keys).toEqual([`key-${n}`, `k2-${n}`]);
      expect(m.properties).toEqual({ n: String(n), origin: 'grpc' });
      expect(m.messageId).toBe(receipts[n]!.messageId);
      expect(m.queueOffset).toBe(receipts[n]!.offset);
    }
    // Queues are chosen by the proxy, not the client (whose balancer keeps queue 0 only): all are used.
    expect(new Set(stored.map((m) => `${m.broker}/${m.queueId}`)).size).toBe(QUEUES * cluster.config.brokers.length);
    // Lookup by key over HTTP finds a gRPC message too.
    const found = await api(cluster.gatewayUrl, 'GET', `/v1/topics/${topic}/messages/by-key/key-7`);
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual([receipts[7]!.messageId]);
  }, 120_000);

  it('keeps each message group in one queue, in send order (FIFO)', async () => {
    const topic = 'grpc-produce-fifo';
    await createTopic(topic);
    const producer = await producerFor(topic);
    const groups = ['order-1', 'order-2', 'order-3', 'order-4', 'order-5'];
    // Groups interleaved, each group's messages one after another (a FIFO producer waits for each send).
    await Promise.all(
      groups.map(async (group) => {
        for (let seq = 0; seq < 40; seq++) {
          await producer.send({ topic, body: Buffer.from(`${group}:${seq}`), messageGroup: group, properties: new Map([['seq', String(seq)]]) });
        }
      }),
    );
    const stored = await readTopic(topic);
    expect(stored.length).toBe(groups.length * 40);
    for (const group of groups) {
      const mine = stored.filter((m) => m.body.toString().startsWith(`${group}:`));
      expect(new Set(mine.map((m) => `${m.broker}/${m.queueId}`)).size, `${group} in one queue`).toBe(1);
      mine.sort((a, b) => a.queueOffset - b.queueOffset);
      expect(mine.map((m) => Number(m.properties.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
  }, 120_000);

  it('survives a SIGKILLed proxy: once it is restarted the same producer sends again, and every message it acknowledged is stored once', async () => {
    const topic = 'grpc-produce-proxy-kill';
    await createTopic(topic);
    const producer = await producerFor(topic);
    const acked: string[] = [];
    const sendOne = async (body: string) => {
      await producer.send({ topic, body: Buffer.from(body) });
      acked.push(body);
    };
    for (let i = 0; i < 20; i++) await sendOne(`before-${i}`);
    await cluster.stopProcess('grpc-proxy', 'SIGKILL');
    // Nothing listens: the client's attempts fail (it does not hang).
    await expect(sendOne('while-down')).rejects.toThrow();
    await cluster.startProcess('grpc-proxy');
    // The client reconnects by itself (its channel and Telemetry stream); the first sends may still meet the old connection.
    await waitFor('a send through the restarted proxy', 20_000, async () => {
      try {
        await sendOne('after-restart-probe');
        return true;
      } catch {
        return false;
      }
    });
    for (let i = 0; i < 20; i++) await sendOne(`after-${i}`);
    const stored = (await readTopic(topic)).map((m) => m.body.toString());
    const numbered = (bodies: string[]) => bodies.filter((b) => b !== 'after-restart-probe').sort();
    expect(numbered(stored)).toEqual(numbered(acked));
    // A probe that timed out on a busy machine may still have been stored: probes are only counted at least.
    expect(stored.filter((b) => b === 'after-restart-probe').length).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('serves a producer that shut down and a new one that starts after it', async () => {
    const topic = 'grpc-produce-restart';
    await createTopic(topic);
    const logger = memoryLogger();
    const first = await startOfficialProducer(endpoints, [topic], logger);
    await first.send({ topic, body: Buffer.from('one') });
    await first.shutdown();
    const second = await producerFor(topic);
    await second.send({ topic, body: Buffer.from('two') });
    const stored = await readTopic(topic);
    expect(stored.map((m) => m.body.toString()).sort()).toEqual(['one', 'two']);
  }, 60_000);
  it('starts a producer of several topics (the client waits for settings only after its last route) and sends to each', async () => {
    const topics = ['grpc-multi-a', 'grpc-multi-b', 'grpc-multi-c', 'grpc-multi-d'];
    for (const t of topics) await createTopic(t);
    const p = await startOfficialProducer(endpoints, topics);
    producers.push(p);
    for (const topic of topics) await p.send({ topic, body: Buffer.from(topic) });
    for (const topic of topics) expect((await readTopic(topic)).map((m) => m.body.toString())).toEqual([topic]);
  }, 60_000);

  it('delivers a delayed message (deliveryTimestamp) no earlier than its time, and a recalled one never', async () => {
    const topic = 'grpc-delay';
    await createTopic(topic);
    const p = await producerFor(topic);
    const sentAt = Date.now();
    const later = await p.send({ topic, body: Buffer.from('later'), deliveryTimestamp: new Date(sentAt + 2_000) });
    const recalled = await p.send({ topic, body: Buffer.from('recalled'), deliveryTimestamp: new Date(sentAt + 2_000) });
    expect(recalled.recallHandle).not.toBe('');
    expect((await p.recallMessage(topic, recalled.recallHandle)).messageId).toBe(recalled.messageId);
    expect(await readTopic(topic)).toEqual([]);
    await waitFor('the delayed message', 20_000, async () => (await readTopic(topic)).length > 0);
    const stored = await readTopic(topic);
    expect(stored.map((m) => [m.messageId, m.body.toString()])).toEqual([[later.messageId, 'later']]);
    expect(stored[0]!.storeTimestamp).toBeGreaterThanOrEqual(sentAt + 2_000);
    // Past its time: a second recall finds it delivered.
    await expect(p.recallMessage(topic, later.recallHandle)).rejects.toThrow();
  }, 60_000);

  it('routes around a SIGKILLed broker: every send of the official producer succeeds, on the broker left', async () => {
    const topic = 'grpc-produce-broker-kill';
    await createTopic(topic);
    const producer = await producerFor(topic);
    await cluster.stopProcess('broker-b', 'SIGKILL');
    try {
      const receipts = [];
      for (let i = 0; i < 40; i++) receipts.push(await producer.send({ topic, body: Buffer.from(`during-${i}`) }));
      const stored = await Promise.all(Array.from({ length: QUEUES }, (_, q) => readWholeQueue(cluster.gatewayUrl, topic, 'broker-a', q)));
      expect(
        stored
          .flat()
          .map((m) => m.messageId)
          .sort(),
      ).toEqual(receipts.map((r) => r.messageId).sort());
    } finally {
      await cluster.startProcess('broker-b');
      await cluster.waitForBrokers(['broker-b']);
    }
  }, 90_000);
});
