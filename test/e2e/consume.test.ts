/**
 * The consume API end to end through the gateway, every part a real process (a NameServer,
 * two brokers, the gateway): competing receivers of one group each message exactly once,
 * redelivery with the attempt raised, receipt handle errors, long polling, two groups,
 * dead letters and their redrive, progress, and a receive that spans brokers stranding nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, parkedReceives, startTestCluster, stopTestCluster, waitUntilParked } from '../support/cluster';

let cluster: LocalCluster;
let gw: string;
beforeAll(async () => {
  cluster = await startTestCluster();
  gw = cluster.gatewayUrl;
}, 120_000);
afterAll(async () => {
  await stopTestCluster(cluster);
});

/** Created at the NameServer before anything is sent: 'earliest' makes the test independent of group creation times. */
async function createGroup(group: string, settings: Record<string, unknown> = {}): Promise<void> {
  const res = await api(cluster.nameServerUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest', ...settings });
  expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
}

async function createTopic(topic: string): Promise<void> {
  const res = await api(gw, 'POST', '/v1/topics', { topic, queues: 4 });
  expect([200, 201]).toContain(res.status);
}

/** Sends `bodies` in batches of 100, 8 requests at a time; answers the brokers they went to. */
async function send(topic: string, bodies: string[]): Promise<Set<string>> {
  const brokers = new Set<string>();
  const batches: string[][] = [];
  for (let i = 0; i < bodies.length; i += 100) batches.push(bodies.slice(i, i + 100));
  for (let i = 0; i < batches.length; i += 8) {
    await Promise.all(
      batches.slice(i, i + 8).map(async (batch) => {
        const res = await api(gw, 'POST', `/v1/topics/${topic}/messages`, { messages: batch.map((body) => ({ body, tags: 'T' })) });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        for (const r of res.body.results) {
          expect(r.status).toBe('SEND_OK');
          brokers.add(r.broker);
        }
      }),
    );
  }
  return brokers;
}

const receive = (topic: string, group: string, body: Record<string, unknown>) => api(gw, 'POST', `/v1/topics/${topic}/groups/${group}/receive`, body);
const ack = (topic: string, group: string, receiptHandles: string[]) => api(gw, 'POST', `/v1/topics/${topic}/groups/${group}/ack`, { receiptHandles });

/** Receives and acks until `want` distinct messages were seen or `deadline`; answers each body's delivery count. */
async function drain(topic: string, group: string, want: number, consumers = 1, timeoutMs = 60_000): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    Array.from({ length: consumers }, async () => {
      while (seen.size < want && Date.now() < deadline) {
        const res = await receive(topic, group, { max: 32, invisibleSeconds: 60, waitSeconds: 1 });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        for (const m of res.body.messages) seen.set(m.body, (seen.get(m.body) ?? 0) + 1);
        if (res.body.messages.length === 0) continue;
        const acked = await ack(
          topic,
          group,
          res.body.messages.map((m: any) => m.receiptHandle),
        );
        expect(acked.body.results.filter((r: any) => r.status !== 'OK')).toEqual([]);
      }
    }),
  );
  return seen;
}

describe('consume through the gateway', () => {
  it('four concurrent receivers of one group handle every message exactly once; progress shows lag 0', async () => {
    await createTopic('orders');
    await createGroup('billing');
    const total = 10_000;
    const bodies = Array.from({ length: total }, (_, i) => `order-${i}`);
    const brokers = await send('orders', bodies);
    expect([...brokers].sort()).toEqual(['broker-a', 'broker-b']);
    const t0 = performance.now();
    const seen = await drain('orders', 'billing', total, 4, 90_000);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`[consume e2e] 4 receivers drained ${total} messages in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} msg/s, receive 32 + ack)`);
    expect(seen.size).toBe(total);
    expect([...seen].filter(([, n]) => n !== 1).slice(0, 5)).toEqual([]);
    // Nothing more to receive, and the progress says so.
    expect((await receive('orders', 'billing', { max: 32 })).body.messages).toEqual([]);
    const progress = await api(gw, 'GET', '/v1/topics/orders/groups/billing');
    expect(progress.status).toBe(200);
    expect(progress.body.queues).toHaveLength(8);
    expect(progress.body.totals).toEqual({ maxOffset: total, committedOffset: total, inFlight: 0, lag: 0 });

    // Reset on every broker: to earliest the whole topic is lag again, to latest none of it.
    const earliest = await api(gw, 'POST', '/v1/topics/orders/groups/billing/reset', { to: 'earliest' });
    expect(earliest.status, JSON.stringify(earliest.body)).toBe(200);
    expect(earliest.body.totals).toMatchObject({ committedOffset: 0, lag: total });
    expect((await receive('orders', 'billing', { max: 32 })).body.messages).toHaveLength(32);
    const latest = await api(gw, 'POST', '/v1/topics/orders/groups/billing/reset', { to: 'latest' });
    expect(latest.body.totals).toMatchObject({ committedOffset: total, inFlight: 0, lag: 0 });
    const offsets = await api(gw, 'PUT', '/v1/topics/orders/groups/billing/offsets', { broker: 'broker-z', queueId: 0, offset: 1 });
    expect([offsets.status, offsets.body.error.code]).toEqual([404, 'BROKER_NOT_FOUND']);
  }, 180_000);

  it('an unacked message comes back with deliveryAttempt 2; used, edited and forged handles fail per entry', async () => {
    await createTopic('retried');
    await createGroup('retrier');
    await send('retried', ['r0', 'r1', 'r2']);
    const first: any[] = [];
    await waitFor('three first deliveries', 10_000, async () => {
      first.push(...(await receive('retried', 'retrier', { max: 32, invisibleSeconds: 1 })).body.messages);
      return first.length >= 3;
    });
    expect(first.map((m) => [m.body, m.deliveryAttempt]).sort()).toEqual([
      ['r0', 1],
      ['r1', 1],
      ['r2', 1],
    ]);
    // The lease ends after 1 s: the same messages again, attempt 2.
    const second: any[] = [];
    await waitFor('three redeliveries', 15_000, async () => {
      second.push(...(await receive('retried', 'retrier', { max: 32, invisibleSeconds: 60, waitSeconds: 1 })).body.messages);
      return second.length >= 3;
    });
    expect(second.map((m) => [m.body, m.deliveryAttempt]).sort()).toEqual([
      ['r0', 2],
      ['r1', 2],
      ['r2', 2],
    ]);
    expect(second.map((m) => m.messageId).sort()).toEqual(first.map((m) => m.messageId).sort());

    const handle = second[0].receiptHandle as string;
    const [v, broker, body] = handle.split('.') as [string, string, string];
    const edited = `${v}.${broker}.${body.slice(0, 5)}${body[5] === 'A' ? 'B' : 'A'}${body.slice(6)}`;
    const res = await ack('retried', 'retrier', [first[0].receiptHandle, edited, 'not-a-handle', handle, ...second.slice(1).map((m) => m.receiptHandle)]);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: any) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual([
      'RECEIPT_HANDLE_EXPIRED', // its lease ended (redelivered since)
      'INVALID_RECEIPT_HANDLE', // edited: the broker's MAC refuses it
      'INVALID_RECEIPT_HANDLE', // names no broker
      'OK',
      'OK',
      'OK',
    ]);
    // Acked: a second ack of the same handle is refused, never a silent success.
    expect((await ack('retried', 'retrier', [handle])).body.results[0].error.code).toBe('RECEIPT_HANDLE_EXPIRED');
    const progress = await api(gw, 'GET', '/v1/topics/retried/groups/retrier');
    expect(progress.body.retried).toBeGreaterThanOrEqual(3);
    expect(progress.body.totals).toMatchObject({ inFlight: 0, lag: 0 });
  }, 60_000);

  /** A new topic and group, one message sent, and its first delivery (leased for `invisibleSeconds`). */
  const firstDelivery = async (topic: string, group: string, invisibleSeconds: number): Promise<any> => {
    await createTopic(topic);
    await createGroup(group);
    await send(topic, [`${topic}-0`]);
    let got: any[] = [];
    await waitFor('a delivery', 10_000, async () => {
      got = (await receive(topic, group, { max: 1, invisibleSeconds })).body.messages;
      return got.length === 1;
    });
    return got[0];
  };
  const changeInvisibility = (topic: string, group: string, receiptHandle: string, invisibleSeconds: number) =>
    api(gw, 'POST', `/v1/topics/${topic}/groups/${group}/change-invisibility`, { entries: [{ receiptHandle, invisibleSeconds }] });

  it('change-invisibility answers a new handle; the old one no longer works', async () => {
    const old = (await firstDelivery('extended', 'extender', 5)).receiptHandle;
    const changed = await changeInvisibility('extended', 'extender', old, 60);
    expect(changed.body.results[0].status).toBe('OK');
    const fresh = changed.body.results[0].receiptHandle;
    expect(fresh).not.toBe(old);
    expect((await ack('extended', 'extender', [old, fresh])).body.results.map((r: any) => r.error?.code ?? r.status)).toEqual(['RECEIPT_HANDLE_EXPIRED', 'OK']);
  });

  it('change-invisibility to 0 releases: the message is deliverable at once, as the same attempt, and the handle ends', async () => {
    const first = await firstDelivery('released', 'releaser', 600);
    expect(first.deliveryAttempt).toBe(1);
    const released = await changeInvisibility('released', 'releaser', first.receiptHandle, 0);
    expect(released.body.results[0].status).toBe('OK');
    // Not after the 600 s lease, nor the 1 s least invisibility: now, and still its first attempt.
    const again = (await receive('released', 'releaser', { max: 1, waitSeconds: 0 })).body.messages;
    expect(again.map((m: any) => [m.messageId, m.deliveryAttempt])).toEqual([[first.messageId, 1]]);
    expect((await ack('released', 'releaser', [first.receiptHandle, again[0].receiptHandle])).body.results.map((r: any) => r.error?.code ?? r.status)).toEqual([
      'RECEIPT_HANDLE_EXPIRED',
      'OK',
    ]);
  });

  it('long polling: a message sent while a receive waits reaches it within tens of ms, long before the wait ends', async () => {
    await createTopic('polled');
    await createGroup('poller');
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      const parkedBefore = await parkedReceives(cluster);
      const started = performance.now();
      const waiting = receive('polled', 'poller', { max: 32, waitSeconds: 10 }).then((res) => ({ res, at: performance.now() }));
      // The send goes out once the receive is parked on both brokers.
      await waitUntilParked(cluster, parkedBefore);
      const sendAt = performance.now();
      await send('polled', [`p${round}`]);
      const { res, at } = await waiting;
      expect(res.body.messages.map((m: any) => m.body)).toEqual([`p${round}`]);
      expect(at - started).toBeLessThan(5_000); // answered at the arrival, not at the end of the 10 s wait
      // From the send's start: an upper bound (the send's own trip through the gateway included),
      // since the broker wakes the receive when the message is stored, often before the send's ack is back.
      latencies.push(at - sendAt);
      // The gateway told the other broker's poll to end its wait (END_WAIT) rather than leave it parked for 10 s.
      await waitFor('the other long poll ended', 5_000, async () => (await parkedReceives(cluster)).every((n, i) => n <= parkedBefore[i]!));
      await ack(
        'polled',
        'poller',
        res.body.messages.map((m: any) => m.receiptHandle),
      );
    }
    latencies.sort((a, b) => a - b);
    console.log(`[consume e2e] long-poll wake, send start -> receive answer: median ${latencies[2]!.toFixed(1)} ms, max ${latencies[4]!.toFixed(1)} ms`);
    expect(latencies[2]).toBeLessThan(250); // tens of ms on an idle machine; bounded loosely for a busy one
  }, 60_000);

  it('two groups on one topic each get every message', async () => {
    await createTopic('fanout');
    await createGroup('group-x');
    await createGroup('group-y');
    const bodies = Array.from({ length: 300 }, (_, i) => `f${i}`);
    await send('fanout', bodies);
    const [x, y] = await Promise.all([drain('fanout', 'group-x', bodies.length, 2), drain('fanout', 'group-y', bodies.length, 2)]);
    expect([...x.keys()].sort()).toEqual([...bodies].sort());
    expect([...y.keys()].sort()).toEqual([...bodies].sort());
  }, 90_000);

  it('after retryMaxTimes + 1 deliveries a message is dead-lettered; redrive sends it back to its topic', async () => {
    await createTopic('poison');
    await createGroup('fragile', { retryMaxTimes: 1 });
    await send('poison', ['d0', 'd1', 'd2']);
    const attempts = new Map<string, number[]>();
    const ids = new Map<string, string>();
    // Never acked, 1 s invisibility: attempts 1 and 2, then %DLQ%fragile.
    await waitFor('three dead letters', 30_000, async () => {
      const res = await receive('poison', 'fragile', { max: 32, invisibleSeconds: 1, waitSeconds: 1 });
      for (const m of res.body.messages) {
        attempts.set(m.body, [...(attempts.get(m.body) ?? []), m.deliveryAttempt]);
        ids.set(m.body, m.messageId);
      }
      const progress = await api(gw, 'GET', '/v1/topics/poison/groups/fragile');
      return progress.body.deadLettered === 3;
    });
    expect([...attempts].sort()).toEqual([
      ['d0', [1, 2]],
      ['d1', [1, 2]],
      ['d2', [1, 2]],
    ]);
    // %DLQ%fragile reads like any topic; each copy names where it came from.
    const dead: any[] = [];
    for (const broker of ['broker-a', 'broker-b']) {
      const res = await api(gw, 'GET', `/v1/topics/%25DLQ%25fragile/messages?broker=${broker}&queueId=0`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      dead.push(...res.body.messages);
    }
    expect(dead.map((m) => [m.body, m.properties.DLQ_ORIGIN_TOPIC]).sort()).toEqual([
      ['d0', 'poison'],
      ['d1', 'poison'],
      ['d2', 'poison'],
    ]);
    // Dead: not delivered to the group again.
    expect((await receive('poison', 'fragile', { max: 32, waitSeconds: 2 })).body.messages).toEqual([]);

    const redriven = await api(gw, 'POST', '/v1/groups/fragile/dlq/redrive', { max: 1000 });
    expect(redriven.status, JSON.stringify(redriven.body)).toBe(200);
    expect(redriven.body).toEqual({ redriven: 3, failed: 0 });
    // Back as the same messages: their ids are kept (a consumer that dedupes by id sees the redrive as a redelivery).
    const back = new Map<string, string>();
    await waitFor('the redriven messages', 20_000, async () => {
      const res = await receive('poison', 'fragile', { max: 32, invisibleSeconds: 60, waitSeconds: 1 });
      for (const m of res.body.messages) back.set(m.body, m.messageId);
      if (res.body.messages.length > 0)
        await ack(
          'poison',
          'fragile',
          res.body.messages.map((m: any) => m.receiptHandle),
        );
      return back.size === 3;
    });
    expect([...back].sort()).toEqual([...ids].sort());
    // The dead-letter topic is empty now.
    expect((await api(gw, 'POST', '/v1/groups/fragile/dlq/redrive', {})).body).toEqual({ redriven: 0, failed: 0 });
  }, 90_000);

  it('a receive spanning both brokers strands nothing: the losing broker ends its wait, and what it leased is released at once', async () => {
    await createTopic('spread');
    await createGroup('spreader');
    // One receive parked on both brokers (max 1, a 10-minute invisibility), then messages on both.
    const parkedBefore = await parkedReceives(cluster);
    const waiting = receive('spread', 'spreader', { max: 1, invisibleSeconds: 600, waitSeconds: 10 });
    await waitUntilParked(cluster, parkedBefore);
    const bodies = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const brokers = new Set<string>();
    // One at a time: the producer's round robin puts them on queues of both brokers.
    for (const b of bodies) for (const x of await send('spread', [b])) brokers.add(x);
    expect([...brokers].sort()).toEqual(['broker-a', 'broker-b']);
    const first = (await waiting).body.messages;
    expect(first).toHaveLength(1);
    // Every other message is receivable now, not after 600 s: nothing leased for the first
    // receive stayed invisible beyond its answer.
    const rest = new Set<string>();
    await waitFor('the other 7 messages', 10_000, async () => {
      for (const m of (await receive('spread', 'spreader', { max: 32, invisibleSeconds: 600 })).body.messages) rest.add(m.body);
      return rest.size >= 7;
    });
    expect([...rest, first[0].body].sort()).toEqual([...bodies].sort());
    // Whether the losing broker leased before its END_WAIT arrived is a race here (that release
    // is tested in functions/gateway/src/receive-fanout.test.ts); either way its poll is gone.
    await waitFor('the losing long poll ended', 5_000, async () => (await parkedReceives(cluster)).every((n, i) => n <= parkedBefore[i]!));
  }, 60_000);
});
