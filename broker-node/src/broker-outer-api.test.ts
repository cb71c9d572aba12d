import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../client/src/logger';
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
    const p = retryWithBackoff(() => Promise.reject(new Error('y')), { initialDelayMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 5);
    await expect(p).rejects.toThrow('stop');
  });
});

describe('BrokerOuterAPI', () => {
  it('retries registration until the NameServer answers, heartbeats, and unregisters on shutdown', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 2);
    ns.failRegistrations = 2;
    const seen: string[][] = [];
    const lines: string[] = [];
    const logger = createLogger({}, 'info', (l) => lines.push(l));
    const api = new BrokerOuterAPI(ns, reg, (r) => seen.push(r.topics.map((t) => t.topic)), { heartbeatIntervalMs: 10, retryInitialDelayMs: 1, retryMaxDelayMs: 2 }, logger);
    await api.start();
    expect(ns.registrations.length).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(ns.registrations.length).toBeGreaterThanOrEqual(3);
    expect(seen[0]).toEqual(['T']);
    // one "heartbeat sent" line per accepted heartbeat: the cloud alarm counts them
    expect(lines.filter((l) => JSON.parse(l).msg === 'heartbeat sent').length).toBe(ns.registrations.length - 1);
    await api.shutdown();
    const after = ns.registrations.length;
    expect(ns.unregistrations).toEqual([{ clusterName: 'C', brokerName: 'broker-a', brokerId: 0 }]);
    await new Promise((r) => setTimeout(r, 30));
    expect(ns.registrations.length).toBe(after);
  });

  it('does not hang shutdown on a NameServer that never answers', async () => {
    const ns = new FakeNameServer();
    const api = new BrokerOuterAPI(
      { registerBroker: (r) => ns.registerBroker(r), unregisterBroker: () => new Promise(() => {}) },
      reg,
      () => {},
      { heartbeatIntervalMs: 1000, unregisterTimeoutMs: 20 },
      silentLogger,
    );
    await api.start();
    await api.shutdown();
  });
});
