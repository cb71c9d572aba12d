/**
 * PushConsumer's local logic against an in-memory backend: the concurrency and cache bounds,
 * orderly sequencing per queue, and what FAILURE does to a lease. The broker side is covered
 * by test/e2e/sdk-consumers.test.ts with real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriptionGroupConfig } from '../api/consume-types.js';
import type { AckOutcome, ConsumeBackend, ReceiveParams } from './consume-backend.js';
import type { MessageView } from './message-view.js';
import { ConsumeResult, PushConsumer } from './push-consumer.js';
import { retryDelayMs, DEFAULT_RETRY_BACKOFF } from './retry-backoff.js';

/** Leases messages from a list; tracks what is out (received, neither acked nor released). */
class FakeBackend implements ConsumeBackend {
  readonly pending: MessageView[] = [];
  readonly acked: MessageView[] = [];
  readonly invisibility: { messageId: string; ms: number }[] = [];
  readonly released: MessageView[] = [];
  readonly receiveMax: number[] = [];
  outstanding = 0;
  maxOutstanding = 0;
  /** Answers each batch in reverse (a broker answers in offset order; the consumer must not rely on it within a batch). */
  reverseBatches = false;
  private arrived: (() => void) | undefined;

  add(messages: MessageView[]): void {
    this.pending.push(...messages);
    this.arrived?.();
  }

  async receive(p: ReceiveParams): Promise<MessageView[]> {
    this.receiveMax.push(p.max);
    if (this.pending.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, p.waitMs);
        this.arrived = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.arrived = undefined;
    }
    const out = this.pending.splice(0, p.max);
    if (this.reverseBatches) out.reverse();
    this.outstanding += out.length;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    return out;
  }

  readonly ackRequests: number[] = [];

  async ack(_group: string, messages: readonly MessageView[]): Promise<AckOutcome[]> {
    this.ackRequests.push(messages.length);
    this.acked.push(...messages);
    this.outstanding -= messages.length;
    return messages.map(() => null);
  }

  async changeInvisibility(_group: string, m: MessageView, invisibleMs: number): Promise<string> {
    this.invisibility.push({ messageId: m.messageId, ms: invisibleMs });
    this.outstanding--;
    return `${m.receiptHandle}'`;
  }

  async release(_group: string, messages: readonly MessageView[]): Promise<void> {
    this.released.push(...messages);
    this.outstanding -= messages.length;
  }

  async groupConfig(): Promise<SubscriptionGroupConfig | undefined> {
    return undefined;
  }

  close(): void {}
}

function messages(n: number, queues = 1, attempt = 1): MessageView[] {
  return Array.from({ length: n }, (_, i) => ({
    messageId: `m${i}`,
    topic: 't',
    body: Buffer.from(String(i)),
    keys: [],
    properties: {},
    brokerName: 'broker-a',
    queueId: i % queues,
    queueOffset: Math.floor(i / queues),
    bornTimestamp: 0,
    storeTimestamp: 0,
    deliveryAttempt: attempt,
    receiptHandle: `h${i}`,
  }));
}

const until = async (what: string, check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

let consumer: PushConsumer | undefined;
afterEach(async () => {
  await consumer?.shutdown();
  consumer = undefined;
});

describe('PushConsumer', () => {
  it('runs at most consumptionThreadCount listeners at once and acks each SUCCESS', async () => {
    const backend = new FakeBackend();
    backend.add(messages(60));
    let running = 0;
    let peak = 0;
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      consumptionThreadCount: 3,
      messageListener: async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return ConsumeResult.SUCCESS;
      },
    });
    await consumer.start();
    await until('all acked', () => backend.acked.length === 60);
    expect(peak).toBe(3);
    expect(new Set(backend.acked.map((m) => m.messageId)).size).toBe(60);
  });

  it('holds at most maxCacheMessageCount messages received and not handled', async () => {
    const backend = new FakeBackend();
    backend.add(messages(50));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      consumptionThreadCount: 2,
      maxCacheMessageCount: 7,
      messageListener: async () => {
        await gate;
        return ConsumeResult.SUCCESS;
      },
    });
    await consumer.start();
    await until('the cache filled', () => consumer!.cachedMessageCount === 7);
    // The loop waits for room instead of receiving: give it the chance to misbehave.
    await new Promise((r) => setTimeout(r, 100));
    expect(backend.outstanding).toBe(7);
    expect(backend.receiveMax.every((max) => max <= 7)).toBe(true);
    release();
    await until('all acked', () => backend.acked.length === 50);
    expect(backend.maxOutstanding).toBe(7);
    // Listeners released together finish in one turn: their acks share requests.
    expect(backend.ackRequests.length).toBeLessThan(50);
    expect(Math.max(...backend.ackRequests)).toBeLessThanOrEqual(7);
  });

  it("FAILURE and a throw make the message invisible for its attempt's backoff", async () => {
    const backend = new FakeBackend();
    backend.add([...messages(1, 1, 1), ...messages(1, 1, 3).map((m) => ({ ...m, messageId: 'third' }))]);
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      messageListener: (m): ConsumeResult => {
        if (m.messageId === 'third') throw new Error('boom');
        return 'FAILURE';
      },
    });
    await consumer.start();
    await until('both set invisible', () => backend.invisibility.length === 2);
    expect(backend.acked).toEqual([]);
    const byId = Object.fromEntries(backend.invisibility.map((x) => [x.messageId, x.ms]));
    expect(byId).toEqual({ m0: 1_000, third: 4_000 });
    expect(retryDelayMs(DEFAULT_RETRY_BACKOFF, 30)).toBe(60_000);
  });

  it('orderly: one message of a queue at a time, in offset order; queues run in parallel', async () => {
    const backend = new FakeBackend();
    backend.reverseBatches = true;
    backend.add(messages(60, 3));
    const active = new Map<number, number>();
    const seen = new Map<number, number[]>();
    let parallelQueues = 0;
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      orderly: true,
      consumptionThreadCount: 8,
      messageListener: async (m) => {
        const n = (active.get(m.queueId) ?? 0) + 1;
        active.set(m.queueId, n);
        expect(n).toBe(1);
        parallelQueues = Math.max(parallelQueues, [...active.values()].filter((v) => v > 0).length);
        seen.set(m.queueId, [...(seen.get(m.queueId) ?? []), m.queueOffset]);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        active.set(m.queueId, n - 1);
        return ConsumeResult.SUCCESS;
      },
    });
    await consumer.start();
    await until('all acked', () => backend.acked.length === 60);
    for (let q = 0; q < 3; q++) expect(seen.get(q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(parallelQueues).toBeGreaterThan(1);
  });

  it("orderly: a failure holds back the rest of its queue's batch with it", async () => {
    const backend = new FakeBackend();
    backend.add(messages(5, 1));
    const handled: number[] = [];
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      orderly: true,
      messageListener: (m) => {
        handled.push(m.queueOffset);
        return m.queueOffset === 2 ? 'FAILURE' : 'SUCCESS';
      },
    });
    await consumer.start();
    await until('the rest set invisible', () => backend.invisibility.length === 3);
    expect(handled).toEqual([0, 1, 2]);
    expect(backend.acked.map((m) => m.queueOffset)).toEqual([0, 1]);
    expect(backend.invisibility.map((x) => x.messageId).sort()).toEqual(['m2', 'm3', 'm4']);
  });

  it('shutdown waits for listeners in flight, acks them, and hands back what had not started', async () => {
    const backend = new FakeBackend();
    backend.add(messages(10));
    let started = 0;
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    consumer = new PushConsumer({
      backend,
      group: 'g',
      topics: ['t'],
      awaitDuration: 20,
      consumptionThreadCount: 2,
      messageListener: async () => {
        started++;
        await gate;
        return ConsumeResult.SUCCESS;
      },
    });
    await consumer.start();
    await until('two listeners running', () => started === 2 && consumer!.cachedMessageCount === 10);
    const stopped = consumer.shutdown();
    setTimeout(finish, 50);
    await stopped;
    consumer = undefined;
    expect(started).toBe(2);
    expect(backend.acked).toHaveLength(2);
    expect(backend.released).toHaveLength(8);
    expect(backend.invisibility).toHaveLength(0);
    expect(backend.outstanding).toBe(0);
  });
});
