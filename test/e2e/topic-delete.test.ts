/**
 * Deleting a topic deletes its queues, as processes: a topic created again under the same
 * name starts empty at offset 0 on every queue of every broker, lookups by key and id miss
 * the old messages, and neither a SIGKILL and restart of a broker nor a broker that was down
 * during the delete brings them back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';

const BROKERS = ['broker-a', 'broker-b'];
const QUEUES = 2;

let cluster: LocalCluster;
beforeAll(async () => {
  cluster = await startTestCluster({ brokers: BROKERS });
}, 60_000);
afterAll(async () => {
  await stopTestCluster(cluster);
});

interface Sent {
  messageId: string;
  broker: string;
  queueId: number;
  queueOffset: number;
  body: string;
}

const gw = () => cluster.gatewayUrl;

async function send(topic: string, prefix: string, n: number): Promise<Sent[]> {
  const messages = Array.from({ length: n }, (_, i) => ({ body: `${prefix}-${i}`, keys: ['k', `${prefix}-${i}`] }));
  const res = await api(gw(), 'POST', `/v1/topics/${topic}/messages`, { messages });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.results.map((r: any, i: number) => {
    expect(r.status).toBe('SEND_OK');
    return { messageId: r.messageId, broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, body: messages[i]!.body };
  });
}

/** Sends until every broker in `brokers` holds some (the producer spreads batches over queues). */
async function sendToAll(topic: string, prefix: string, brokers: string[]): Promise<Sent[]> {
  const sent: Sent[] = [];
  await waitFor(`${prefix} messages on ${brokers.join(', ')}`, 30_000, async () => {
    sent.push(...(await send(topic, `${prefix}${sent.length}`, 8)));
    return brokers.every((b) => sent.some((s) => s.broker === b));
  });
  return sent;
}

async function bodiesOn(topic: string, broker: string, queueId: number): Promise<string[]> {
  return (await readWholeQueue(gw(), topic, broker, queueId)).map((m) => m.body);
}

/** Every queue of `topic` on `brokers` holds exactly the `expected` messages, at offsets from 0. */
async function expectQueuesHoldOnly(topic: string, brokers: string[], expected: Sent[]): Promise<void> {
  for (const broker of brokers) {
    for (let q = 0; q < QUEUES; q++) {
      const mine = expected.filter((s) => s.broker === broker && s.queueId === q).sort((a, b) => a.queueOffset - b.queueOffset);
      expect(mine.map((s) => s.queueOffset)).toEqual(mine.map((_, i) => i));
      expect(await bodiesOn(topic, broker, q)).toEqual(mine.map((s) => s.body));
      const head = await api(gw(), 'GET', `/v1/topics/${topic}/messages?broker=${broker}&queueId=${q}&offset=0&max=1`);
      expect(head.body.maxOffset).toBe(mine.length);
    }
  }
}

async function expectLookupsMiss(topic: string, old: Sent[], current: Sent[]): Promise<void> {
  const byKey = await api(gw(), 'GET', `/v1/topics/${topic}/messages/by-key/k?max=64`);
  expect(byKey.status).toBe(200);
  expect(byKey.body.messages.map((m: any) => m.body).sort()).toEqual(current.map((s) => s.body).sort());
  // A key only an old message had, and old ids: not found.
  expect((await api(gw(), 'GET', `/v1/topics/${topic}/messages/by-key/${old[0]!.body}`)).body.messages).toEqual([]);
  for (const s of old) expect((await api(gw(), 'GET', `/v1/messages/${s.messageId}`)).status).toBe(404);
}

async function routeBrokers(topic: string): Promise<string[]> {
  const res = await api(gw(), 'GET', `/v1/topics/${topic}/route`);
  return res.body.brokerDatas.map((b: any) => b.brokerName);
}

describe('topic delete', () => {
  it('a topic created again starts empty at offset 0 on every queue, through a SIGKILL of a broker', async () => {
    expect((await api(gw(), 'POST', '/v1/topics', { topic: 't', queues: QUEUES })).status).toBe(201);
    const old = await sendToAll('t', 'old', BROKERS);

    expect((await api(gw(), 'DELETE', '/v1/topics/t')).status).toBe(204);
    expect((await api(gw(), 'GET', '/v1/topics/t')).status).toBe(404);
    const gone = await api(gw(), 'GET', '/v1/topics/t/messages?broker=broker-a&queueId=0&offset=0');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('TOPIC_NOT_FOUND');

    expect((await api(gw(), 'POST', '/v1/topics', { topic: 't', queues: QUEUES })).status).toBe(201);
    await expectQueuesHoldOnly('t', BROKERS, []);
    await expectLookupsMiss('t', old, []);

    const fresh = await sendToAll('t', 'new', BROKERS);
    await expectQueuesHoldOnly('t', BROKERS, fresh);
    await expectLookupsMiss('t', old, fresh);

    // The replay after a kill -9 re-dispatches the log, old records included: the tombstone keeps them out.
    await cluster.stopProcess('broker-a', 'SIGKILL');
    await cluster.startProcess('broker-a');
    await cluster.waitForBrokers(BROKERS);
    await waitFor('t routed to both brokers', 20_000, async () => (await routeBrokers('t')).length === 2);
    await expectQueuesHoldOnly('t', BROKERS, fresh);
    await expectLookupsMiss('t', old, fresh);
    const after = await send('t', 'after-kill', 4);
    await expectQueuesHoldOnly('t', BROKERS, [...fresh, ...after]);
  }, 120_000);

  it('a broker down during the delete drops its old queues when the topic comes back to it', async () => {
    expect((await api(gw(), 'POST', '/v1/topics', { topic: 'u', queues: QUEUES })).status).toBe(201);
    const old = await sendToAll('u', 'old', BROKERS);

    await cluster.stopProcess('broker-b', 'SIGKILL');
    await waitFor('broker-b out of the route', 20_000, async () => !(await routeBrokers('u')).includes('broker-b'));
    // Only broker-a is asked; broker-b's queues are covered by the incarnation check.
    expect((await api(gw(), 'DELETE', '/v1/topics/u')).status).toBe(204);
    expect((await api(gw(), 'POST', '/v1/topics', { topic: 'u', queues: QUEUES })).status).toBe(201);
    const onA = await send('u', 'while-b-down', 6);
    expect(new Set(onA.map((s) => s.broker))).toEqual(new Set(['broker-a']));

    await cluster.startProcess('broker-b');
    await cluster.waitForBrokers(BROKERS);
    // Creating it again adds the live master that lacks it (broker-b), as a new incarnation there.
    expect((await api(gw(), 'POST', '/v1/topics', { topic: 'u', queues: QUEUES })).status).toBe(200);
    await waitFor('u routed to both brokers', 20_000, async () => (await routeBrokers('u')).length === 2);
    await expectLookupsMiss('u', old, onA);
    await expectQueuesHoldOnly('u', BROKERS, onA);
    const fresh = await sendToAll('u', 'new', ['broker-b']);
    await expectQueuesHoldOnly('u', BROKERS, [...onA, ...fresh]);
  }, 120_000);

  it('answers 404 for a topic that does not exist, and 400 for a bad name', async () => {
    const missing = await api(gw(), 'DELETE', '/v1/topics/no-such-topic');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TOPIC_NOT_FOUND');
    expect((await api(gw(), 'DELETE', `/v1/topics/${encodeURIComponent('bad topic!')}`)).status).toBe(400);
  });
});
