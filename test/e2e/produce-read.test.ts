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
    const sent = new Map<string, { broker: string; queueId: number; queueOffset: number; body: string }>();
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

    const seen = new Set<string>();
    const usedQueues = new Set<string>();
    for (const broker of ['broker-a', 'broker-b']) {
      for (let queueId = 0; queueId < 4; queueId++) {
        const messages = await readWholeQueue(cluster.gatewayUrl, 'orders', broker, queueId);
        messages.forEach((m, offset) => {
          expect(m.queueOffset).toBe(offset); // contiguous from 0
          const s = sent.get(m.messageId);
          expect(s, `unknown message ${m.messageId}`).toBeDefined();
          expect(seen.has(m.messageId)).toBe(false);
          seen.add(m.messageId);
          expect(m).toMatchObject({ body: s!.body, bodyEncoding: 'utf8', tags: 'TagA', queueOffset: s!.queueOffset });
          expect(s).toMatchObject({ broker, queueId });
        });
        if (messages.length > 0) usedQueues.add(`${broker}/${queueId}`);
      }
    }
    expect(seen.size).toBe(total);
    expect(usedQueues.size).toBe(8);
  });

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
    expect([a.broker, a.queueId]).toEqual([b.broker, b.queueId]); // one sharding key, one queue
    expect(b.queueOffset).toBe(a.queueOffset + 1);
    const read = await api(cluster.gatewayUrl, 'GET', `/v1/topics/orders/messages?broker=${a.broker}&queueId=${a.queueId}&offset=${a.queueOffset}&max=2`);
    expect(read.body.messages[0]).toMatchObject({ body: binary, bodyEncoding: 'base64', properties: { traceId: 't-1' } });
    expect(read.body.messages[1].body).toBe(large);
  });

  it('keeps the data across a restart of the whole cluster', async () => {
    const before = await api(cluster.gatewayUrl, 'GET', '/v1/topics/orders/messages?broker=broker-a&queueId=0&offset=0&max=5');
    await cluster.stop();
    await cluster.start();
    const after = await api(cluster.gatewayUrl, 'GET', '/v1/topics/orders/messages?broker=broker-a&queueId=0&offset=0&max=5');
    expect(after.status).toBe(200);
    expect(after.body.messages).toEqual(before.body.messages);
    const more = await api(cluster.gatewayUrl, 'POST', '/v1/topics/orders/messages', { messages: [{ body: 'after restart' }] });
    expect(more.body.results[0].status).toBe('SEND_OK');
  });
});
