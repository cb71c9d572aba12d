/**
 * The walking skeleton end to end, with every part a real process: 10,000 messages over HTTP
 * in batches, spread over 4 queues on each of 2 brokers, then every queue read back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
});
afterAll(async () => {
  await stopTestCluster(cluster);
});

interface Sent {
  broker: string;
  queueId: number;
  queueOffset: number;
  body: string;
}

/** Every message acknowledged in this file, by messageId: where its result said it went. */
const sent = new Map<string, Sent>();

/**
 * Reads every queue of `orders` on both brokers and checks that the stored messages are
 * exactly the acknowledged ones: each once, at its broker/queue/offset, with its body, and
 * every queue contiguous from 0.
 */
async function expectStoredExactlyAsAcked(): Promise<void> {
  const seen = new Set<string>();
  const usedQueues = new Set<string>();
  const wrong: string[] = [];
  for (const broker of ['broker-a', 'broker-b']) {
    for (let queueId = 0; queueId < 4; queueId++) {
      const messages = await readWholeQueue(cluster.gatewayUrl, 'orders', broker, queueId);
      messages.forEach((m, offset) => {
        const s = sent.get(m.messageId);
        const at = `${broker}/${queueId}/${offset}`;
        if (m.queueOffset !== offset) wrong.push(`${at}: queueOffset ${m.queueOffset}`);
        else if (!s) wrong.push(`${at}: ${m.messageId} was never acknowledged`);
        else if (seen.has(m.messageId)) wrong.push(`${at}: ${m.messageId} stored twice`);
        else if (s.broker !== broker || s.queueId !== queueId || s.queueOffset !== offset)
          wrong.push(`${at}: ${m.messageId} acknowledged at ${s.broker}/${s.queueId}/${s.queueOffset}`);
        else if (m.body !== s.body) wrong.push(`${at}: body ${JSON.stringify(m.body).slice(0, 40)}, sent ${JSON.stringify(s.body).slice(0, 40)}`);
        seen.add(m.messageId);
      });
      if (messages.length > 0) usedQueues.add(`${broker}/${queueId}`);
    }
  }
  expect(wrong.slice(0, 10)).toEqual([]);
  expect([...sent.keys()].filter((id) => !seen.has(id)).slice(0, 10)).toEqual([]); // none missing
  expect(seen.size).toBe(sent.size);
  expect(usedQueues.size).toBe(8);
}

describe('produce over HTTP and read back', () => {
  it('creates a topic on both live brokers', async () => {
    const created = await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: 'orders', queues: 4 });
    expect(created.status).toBe(201);
    expect(created.body.brokers.map((b: { brokerName: string }) => b.brokerName).sort()).toEqual(['broker-a', 'broker-b']);
    expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: 'orders', queues: 4 })).status).toBe(200);
    expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: 'orders', queues: 8 })).body.error.code).toBe('TOPIC_EXISTS');

    const route = await api(cluster.gatewayUrl, 'GET', '/v1/topics/orders/route');
    expect(route.status).toBe(200);
    expect(route.body.queueDatas).toHaveLength(2);
    for (const b of route.body.brokerDatas) expect(b.brokerAddrs['0']).toMatch(/^127\.0\.0\.1:\d+$/);

    const clusterInfo = await api(cluster.gatewayUrl, 'GET', '/v1/cluster');
    expect(clusterInfo.body.brokers.filter((b: { alive: boolean }) => b.alive)).toHaveLength(2);
    expect(clusterInfo.body.brokers[0].lastHeartbeatMs).toBeGreaterThan(Date.now() - 60_000);
    for (const b of clusterInfo.body.brokers) expect(b.stats).toMatchObject({ brokerName: b.brokerName, commitLogMinOffset: 0 });
  });

  it('stores 10,000 messages exactly once, with contiguous queue offsets', async () => {
    const total = 10_000;
    const batch = 100;
    const requests = [];
    for (let start = 0; start < total; start += batch) {
      const messages = Array.from({ length: batch }, (_, i) => ({ body: `msg-${start + i}`, tags: 'TagA', keys: [`k${start + i}`] }));
      requests.push(async () => {
        const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/orders/messages', { messages });
        expect(res.status).toBe(200);
        res.body.results.forEach((r: any, i: number) => {
          expect(r.status).toBe('SEND_OK');
          sent.set(r.messageId, { broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, body: messages[i]!.body });
        });
      });
    }
    // 8 requests in flight at a time
    for (let i = 0; i < requests.length; i += 8) await Promise.all(requests.slice(i, i + 8).map((f) => f()));
    expect(sent.size).toBe(total);
    await expectStoredExactlyAsAcked();
    // Tags and encoding as sent (the check above covers ids, positions and bodies).
    const first = await api(cluster.gatewayUrl, 'GET', '/v1/topics/orders/messages?broker=broker-a&queueId=0&offset=0&max=3');
    expect(first.body.messages).toHaveLength(3);
    for (const m of first.body.messages) expect(m).toMatchObject({ bodyEncoding: 'utf8', tags: 'TagA', keys: [`k${m.body.slice('msg-'.length)}`] });
  }, 120_000); // 100 requests and 40 reads of real processes: seconds on a busy machine, more under the loaded suite

  it('keeps binary bodies and properties intact, and compresses large ones transparently', async () => {
    const binary = Buffer.from([0, 255, 1, 254, 0xc3, 0x28]).toString('base64');
    const large = 'x'.repeat(64 * 1024);
    const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/orders/messages', {
      messages: [
        { body: binary, bodyEncoding: 'base64', properties: { traceId: 't-1' }, shardingKey: 'order-7' },
        { body: large, shardingKey: 'order-7' },
      ],
    });
    expect(res.status).toBe(200);
    const [a, b] = res.body.results;
    expect([a.status, b.status]).toEqual(['SEND_OK', 'SEND_OK']);
    sent.set(a.messageId, { broker: a.broker, queueId: a.queueId, queueOffset: a.queueOffset, body: binary });
    sent.set(b.messageId, { broker: b.broker, queueId: b.queueId, queueOffset: b.queueOffset, body: large });
    expect([a.broker, a.queueId]).toEqual([b.broker, b.queueId]); // one sharding key, one queue
    expect(b.queueOffset).toBe(a.queueOffset + 1);
    const read = await api(cluster.gatewayUrl, 'GET', `/v1/topics/orders/messages?broker=${a.broker}&queueId=${a.queueId}&offset=${a.queueOffset}&max=2`);
    expect(read.body.messages[0]).toMatchObject({ body: binary, bodyEncoding: 'base64', properties: { traceId: 't-1' } });
    expect(read.body.messages[1].body).toBe(large);
  });

  it('keeps the data across a restart of the whole cluster after SIGKILL', async () => {
    expect(sent.size).toBe(10_002);
    // No clean stop: every process is killed (ASYNC_FLUSH: the acked bytes are in the page
    // cache, which a killed process leaves behind), so recovery reads what the kill left.
    for (const name of ['gateway', 'broker-a', 'broker-b', 'nameserver']) await cluster.stopProcess(name, 'SIGKILL');
    await cluster.start();
    await expectStoredExactlyAsAcked();
    const more = await api(cluster.gatewayUrl, 'POST', '/v1/topics/orders/messages', { messages: [{ body: 'after restart' }] });
    expect(more.status).toBe(200);
    const r = more.body.results[0];
    expect(r.status).toBe('SEND_OK');
    // It continues its queue: the next offset after the recovered ones.
    expect(r.queueOffset).toBe([...sent.values()].filter((s) => s.broker === r.broker && s.queueId === r.queueId).length);
    sent.set(r.messageId, { broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, body: 'after restart' });
    await expectStoredExactlyAsAcked();
  }, 120_000);
});
