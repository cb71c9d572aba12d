import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@cirrusmq/client/protocol';
import { BrokerOuterAPI } from './broker-outer-api';
import { retryWithBackoff } from './retry';
import { FakeNameServer } from './testing/fake-nameserver';

const reg = () => ({ clusterName: 'C', brokerName: 'broker-a', brokerId: 0, brokerAddr: '127.0.0.1:1', startedAt: 1 });

describe('retryWithBackoff', () => {
  it('backs off exponentially with jitter up to a ceiling, until it works', async () => {
    const delays: number[] = [];
    let calls = 0;
    const v = await retryWithBackoff(
      async () => {
        if (++calls < 5) throw new Error('no');
        return 'ok';
      },
      { initialDelayMs: 2, maxDelayMs: 8, random: () => 1, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(v).toBe('ok');
    expect(delays).toEqual([2, 4, 8, 8]);
  });

  it('gives up after maxAttempts or when aborted', async () => {
    await expect(retryWithBackoff(() => Promise.reject(new Error('x')), { maxAttempts: 2, initialDelayMs: 1 })).rejects.toThrow('x');
    const ac = new AbortController();
    let attempts = 0;
    const p = retryWithBackoff(
      () => {
        attempts++;
        return Promise.reject(new Error('y'));
      },
      // Aborted in the next turn, while it sleeps 10 s before the second attempt.
      { initialDelayMs: 10_000, signal: ac.signal, onRetry: () => setImmediate(() => ac.abort(new Error('stop'))) },
    );
    await expect(p).rejects.toThrow('stop');
    expect(attempts).toBe(1);
  });
});

describe('BrokerOuterAPI', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries registration until the NameServer answers, heartbeats, and unregisters on shutdown', async () => {
    // Fake timers: heartbeats are counted by the time that passed, not by how fast the machine is.
    vi.useFakeTimers();
    const ns = new FakeNameServer();
    ns.addTopic('T', 2);
    ns.failRegistrations = 2;
    const seen: string[][] = [];
    const lines: string[] = [];
    const logger = createLogger({}, 'info', (l) => lines.push(l));
    const api = new BrokerOuterAPI(
      ns,
      reg,
      (r) => seen.push(r.topics.map((t) => t.topic)),
      { heartbeatIntervalMs: 10, retryInitialDelayMs: 1, retryMaxDelayMs: 2 },
      logger,
    );
    const started = api.start();
    // Two failed attempts, retried after 1 ms then 1-2 ms: registered by t=3, the first heartbeat not before t=12.
    await vi.advanceTimersByTimeAsync(10);
    await started;
    expect(ns.registrations.length).toBe(1);
    expect(ns.failRegistrations).toBe(0);
    await vi.advanceTimersByTimeAsync(30); // heartbeats at +10, +20, +30 after the registration
    expect(ns.registrations.length).toBe(4);
    expect(seen).toEqual([['T'], ['T'], ['T'], ['T']]);
    // one "heartbeat sent" line per accepted heartbeat: the cloud alarm counts them
    expect(lines.filter((l) => JSON.parse(l).msg === 'heartbeat sent').length).toBe(ns.registrations.length - 1);
    await api.shutdown();
    expect(ns.unregistrations).toEqual([{ clusterName: 'C', brokerName: 'broker-a', brokerId: 0 }]);
    await vi.advanceTimersByTimeAsync(1_000); // a hundred heartbeat intervals: none may come after the unregister
    expect(ns.registrations.length).toBe(4);
  });

  it('does not hang shutdown on a NameServer that never answers', async () => {
    const ns = new FakeNameServer();
    const lines: string[] = [];
    const api = new BrokerOuterAPI(
      { registerBroker: (r) => ns.registerBroker(r), unregisterBroker: () => new Promise(() => {}) },
      reg,
      () => {},
      { heartbeatIntervalMs: 1000, unregisterTimeoutMs: 20 },
      createLogger({}, 'warn', (l) => lines.push(l)),
    );
    await api.start();
    await api.shutdown();
    expect(lines.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } })).toMatchObject([
      { msg: 'unregister from the NameServer failed', err: { message: 'unregister timed out' } },
    ]);
  });
});
