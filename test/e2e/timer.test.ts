/**
 * Timer (scheduled) messages against a real cluster (NameServer, two brokers, gateway as
 * processes): sends at several delays from the SDK and over HTTP are received by a
 * SimpleConsumer never before their time; bad schedules answer 400 INVALID_DELAY; a cancel
 * stops a delivery, a second cancel or an unknown id is 404, a fired one 409; and timers
 * pending when both brokers are SIGKILLed all fire, once, after the restart (those due while
 * the brokers were down at once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Message, Producer, SimpleConsumer } from '@cirrusmq/client';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';

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

async function createTopicAndGroup(topic: string, group: string): Promise<void> {
  expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: 2 })).status).toBe(201);
  expect((await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest' })).status).toBe(201);
}

/** Receives and acks until `ids` are all seen or the deadline; returns when each id arrived (ms) and how often. */
async function receiveAll(group: string, topic: string, ids: Set<string>, timeoutMs: number): Promise<Map<string, { at: number; times: number }>> {
  const consumer = new SimpleConsumer({ nameServer, group, topics: [topic], awaitDuration: 1_000 });
  const seen = new Map<string, { at: number; times: number }>();
  const deadline = Date.now() + timeoutMs;
  try {
    while ([...ids].some((id) => !seen.has(id)) && Date.now() < deadline) {
      const got = await consumer.receive(32);
      const at = Date.now();
      for (const m of got) {
        const s = seen.get(m.messageId);
        if (s) s.times++;
        else seen.set(m.messageId, { at, times: 1 });
      }
      await consumer.ackAll(got);
    }
  } finally {
    await consumer.close();
  }
  return seen;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

describe('timer messages', () => {
  it('delivers SDK and HTTP sends at several delays, never before their time, and a plain send at once', async () => {
    await createTopicAndGroup('sched', 'sched-g');
    const due = new Map<string, number>();
    const start = Date.now();
    const sdk: Message[] = [
      { topic: 'sched', body: 'delay-1s', delaySeconds: 1 },
      { topic: 'sched', body: 'delay-2s', delaySeconds: 2 },
      { topic: 'sched', body: 'level-1', delayTimeLevel: 1 },
      { topic: 'sched', body: 'at-1.5s', deliverAt: start + 1_500 },
      { topic: 'sched', body: 'plain' },
    ];
    const dueOf = (m: { delaySeconds?: number; delayTimeLevel?: number; deliverAt?: number }) =>
      m.deliverAt ?? (m.delaySeconds !== undefined ? start + m.delaySeconds * 1000 : m.delayTimeLevel ? start + 1000 : start);
    for (const m of sdk) due.set((await producer.send(m)).messageId, dueOf(m));
    // A batch of 20 over HTTP, each due at another 100 ms step.
    const http = Array.from({ length: 20 }, (_, i) => ({ body: `http-${i}`, deliverAt: start + 1_000 + i * 100 }));
    const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/sched/messages', { messages: [...http, { body: 'http-delay', delaySeconds: 2 }] });
    expect(res.status).toBe(200);
    res.body.results.forEach((r: { status: string; messageId: string }, i: number) => {
      expect(r.status).toBe('SEND_OK');
      due.set(r.messageId, i < 20 ? http[i]!.deliverAt : start + 2_000);
    });

    const seen = await receiveAll('sched-g', 'sched', new Set(due.keys()), 20_000);
    expect(seen.size).toBe(due.size);
    const lateness: number[] = [];
    for (const [id, d] of due) {
      const s = seen.get(id)!;
      expect(s.times, id).toBe(1);
      // Never early (the consumer's clock is the brokers' here: one machine).
      expect(s.at, id).toBeGreaterThanOrEqual(d);
      lateness.push(s.at - d);
    }
    lateness.sort((a, b) => a - b);
    // Lateness includes the receive's own round trip; on a busy shared machine the bound is loose. The report states what was measured.
    console.log(`timer e2e lateness ms: p50 ${percentile(lateness, 50)} p99 ${percentile(lateness, 99)} max ${lateness[lateness.length - 1]}`);
    expect(percentile(lateness, 50)).toBeLessThan(1_000);
  }, 60_000);

  it('answers a batch mixing plain and scheduled messages with the offsets where the plain ones are stored', async () => {
    await createTopicAndGroup('timer-mixed', 'timer-mixed-g');
    const messages: Message[] = ['p0', 's1', 'p2', 'p3', 's4'].map((body) => ({
      topic: 'timer-mixed',
      body,
      ...(body.startsWith('s') ? { delaySeconds: 60 } : {}),
    }));
    const results = await producer.sendMessages('timer-mixed', messages);
    for (const [i, r] of results.entries()) {
      expect(r.status, JSON.stringify(r)).toBe('SEND_OK');
      if (r.status === 'FAILED' || messages[i]!.delaySeconds !== undefined) continue;
      const stored = await readWholeQueue(cluster.gatewayUrl, 'timer-mixed', r.messageQueue.brokerName, r.messageQueue.queueId);
      expect(stored[r.queueOffset]?.messageId).toBe(r.messageId);
    }
  });

  it('refuses bad schedules with 400 INVALID_DELAY, over HTTP and in the SDK', async () => {
    const bad = [
      { delaySeconds: -1 },
      { delaySeconds: '5' },
      { delayTimeLevel: 0 },
      { delayTimeLevel: 19 },
      { deliverAt: 'soon' },
      { delaySeconds: 1, delayTimeLevel: 2 },
    ];
    for (const b of bad) {
      const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/sched/messages', { messages: [{ body: 'x', ...b }] });
      expect(res.status, JSON.stringify(b)).toBe(400);
      expect(res.body.error.code, JSON.stringify(b)).toBe('INVALID_DELAY');
    }
    // Past the brokers' horizon (40 days by default): refused by the broker, nothing stored.
    const far = await api(cluster.gatewayUrl, 'POST', '/v1/topics/sched/messages', { messages: [{ body: 'x', deliverAt: Date.now() + 41 * 86_400_000 }] });
    expect(far.status).toBe(400);
    expect(far.body.error.code).toBe('INVALID_DELAY');
    await expect(producer.send({ topic: 'sched', body: 'x', delayTimeLevel: 19 })).rejects.toMatchObject({ code: 'INVALID_DELAY' });
    await expect(producer.send({ topic: 'sched', body: 'x', deliverAt: Date.now() + 41 * 86_400_000 })).rejects.toMatchObject({ code: 'INVALID_DELAY' });
  }, 30_000);

  it('cancels a scheduled message before it fires; again or unknown is 404, after firing 409', async () => {
    await createTopicAndGroup('cancel', 'cancel-g');
    const send = async (body: string, delaySeconds: number) => {
      const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/cancel/messages', { messages: [{ body, delaySeconds }] });
      expect(res.status).toBe(200);
      return res.body.results[0].messageId as string;
    };
    const sentAt = Date.now();
    const dropped = await send('dropped', 2);
    const fires = await send('fires', 1);
    const del = (id: string, topic = 'cancel') => api(cluster.gatewayUrl, 'DELETE', `/v1/topics/${topic}/messages/${id}/schedule`);
    const cancelled = await del(dropped);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.messageId).toBe(dropped);
    expect((await del(dropped)).body.error.code).toBe('TIMER_NOT_FOUND');
    expect((await del(dropped)).status).toBe(404);
    expect((await del('0A0B0C0D0E0F00000000000000000000')).status).toBe(404);
    expect((await del('not-hex')).status).toBe(400);

    const seen = await receiveAll('cancel-g', 'cancel', new Set([fires]), 15_000);
    expect(seen.has(fires)).toBe(true);
    const late = await del(fires);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('TIMER_ALREADY_FIRED');
    // Past the cancelled one's time (+2 s) with a second's margin: it is in no queue.
    await waitFor("past the cancelled message's time", 10_000, async () => Date.now() > sentAt + 3_000);
    await waitFor('only the uncancelled message in the queues', 10_000, async () => {
      const bodies: string[] = [];
      for (const broker of ['broker-a', 'broker-b'])
        for (const q of [0, 1]) for (const m of await readWholeQueue(cluster.gatewayUrl, 'cancel', broker, q)) bodies.push(m.body);
      return bodies.length === 1 && bodies[0] === 'fires';
    });
    expect((await receiveAll('cancel-g', 'cancel', new Set([dropped]), 2_000)).size).toBe(0);
  }, 60_000);

  it('fires every pending timer once after both brokers are SIGKILLed, those due while down at once', async () => {
    await createTopicAndGroup('crash', 'crash-g');
    const due = new Map<string, number>();
    const start = Date.now();
    const messages = Array.from({ length: 40 }, (_, i) => ({ topic: 'crash', body: `t-${i}`, deliverAt: start + 1_500 + (i % 4) * 1_000 }));
    for (const part of [messages.slice(0, 20), messages.slice(20)])
      (await producer.sendBatch(part)).forEach((r, i) => due.set(r.messageId, part[i]!.deliverAt));
    const ids = new Set(due.keys());
    expect(ids.size).toBe(40);
    await cluster.stopProcess('broker-a', 'SIGKILL');
    await cluster.stopProcess('broker-b', 'SIGKILL');
    // Down past the first due times.
    await waitFor('the first timers to fall due while the brokers are down', 10_000, async () => Date.now() > start + 3_000);
    await cluster.startProcess('broker-a');
    await cluster.startProcess('broker-b');
    await cluster.waitForBrokers(['broker-a', 'broker-b']);
    const seen = await receiveAll('crash-g', 'crash', ids, 30_000);
    expect([...ids].filter((id) => !seen.has(id))).toEqual([]);
    for (const [id, s] of seen) {
      expect(s.times, id).toBe(1);
      expect(s.at, id).toBeGreaterThanOrEqual(due.get(id)!);
    }
  }, 90_000);
});
