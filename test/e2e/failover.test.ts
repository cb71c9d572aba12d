/**
 * Failover: SIGKILL a broker while producers send through the gateway. Sends keep succeeding
 * on the other broker within the retry budget, and after the killed broker restarts, every
 * message reported SEND_OK is found where its result said.
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

interface Acked {
  broker: string;
  queueId: number;
  queueOffset: number;
  body: string;
}

describe('broker failover', () => {
  it('loses no acknowledged message when a broker is killed mid-stream', async () => {
    expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: 'payments', queues: 4 })).status).toBe(201);

    const acked = new Map<string, Acked>();
    let killedAt = 0;
    const failuresAfterKill: string[] = [];
    const brokersAfterKill = new Set<string>();
    let seq = 0;
    let stop = false;

    const producer = async () => {
      while (!stop) {
        const sentAt = Date.now();
        const messages = Array.from({ length: 20 }, () => ({ body: `p-${seq++}` }));
        const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics/payments/messages', { messages });
        const afterKill = killedAt > 0 && sentAt > killedAt;
        if (res.status !== 200) {
          if (afterKill) failuresAfterKill.push(`${res.status} ${JSON.stringify(res.body)}`);
          continue;
        }
        res.body.results.forEach((r: any, i: number) => {
          if (r.status === 'SEND_OK') {
            acked.set(r.messageId, { broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, body: messages[i]!.body });
            if (afterKill) brokersAfterKill.add(r.broker);
          } else if (afterKill) failuresAfterKill.push(JSON.stringify(r));
        });
      }
    };

    const running = Array.from({ length: 4 }, producer);
    await new Promise((r) => setTimeout(r, 1_500));
    await cluster.stopProcess('broker-a', 'SIGKILL');
    killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    stop = true;
    await Promise.all(running);

    expect(failuresAfterKill).toEqual([]);
    expect([...brokersAfterKill]).toEqual(['broker-b']);
    const onA = [...acked.values()].filter((a) => a.broker === 'broker-a').length;
    expect(onA).toBeGreaterThan(0);

    // broker-a comes back on the same store and serves what it acknowledged
    await cluster.startProcess('broker-a');
    await cluster.waitForBrokers(['broker-a', 'broker-b']);
    // What each queue position holds, read back from both brokers.
    const stored = new Map<string, { messageId: string; body: string }>();
    for (const broker of ['broker-a', 'broker-b']) {
      for (let queueId = 0; queueId < 4; queueId++) {
        const messages = await readWholeQueue(cluster.gatewayUrl, 'payments', broker, queueId, 512);
        messages.forEach((m, offset) => {
          expect(m.queueOffset).toBe(offset); // contiguous
          stored.set(`${broker}/${queueId}/${m.queueOffset}`, { messageId: m.messageId, body: m.body });
        });
      }
    }
    // Every acknowledged message is where its result said. (A retried attempt may also have
    // landed elsewhere: at-least-once, as RocketMQ; such duplicates are allowed.)
    const positions = new Map<string, string[]>();
    for (const [pos, { messageId }] of stored) positions.set(messageId, [...(positions.get(messageId) ?? []), pos]);
    const duplicates = [...positions].filter(([, p]) => p.length > 1);
    if (duplicates.length > 0) console.warn(`failover: ${duplicates.length} messages stored twice (retried after an unanswered attempt):`, duplicates.slice(0, 5));
    const missing = [...acked].filter(([id, a]) => stored.get(`${a.broker}/${a.queueId}/${a.queueOffset}`)?.messageId !== id);
    expect(missing).toEqual([]);
    for (const [id, a] of acked) expect(stored.get(`${a.broker}/${a.queueId}/${a.queueOffset}`)).toEqual({ messageId: id, body: a.body });
    expect(acked.size).toBeGreaterThan(500);
  });
});
