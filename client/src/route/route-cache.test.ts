import { describe, expect, it } from 'vitest';
import type { NameServerApi } from '../api/nameserver-client.js';
import type { TopicRouteData } from '../api/types.js';
import { CirrusError } from '../errors.js';
import { RouteCache } from './route-cache.js';

function fakeNameServer() {
  const state = {
    calls: 0,
    brokers: ['broker-a', 'broker-b'],
    fail: undefined as CirrusError | undefined,
    gate: undefined as Promise<void> | undefined,
  };
  const api = {
    async getRouteInfoByTopic(topic: string): Promise<TopicRouteData> {
      state.calls++;
      if (state.gate) await state.gate;
      if (state.fail) throw state.fail;
      if (topic === 'missing') throw new CirrusError('TOPIC_NOT_FOUND', 'no such topic');
      return {
        topic,
        queueDatas: state.brokers.map((b) => ({ brokerName: b, readQueueNums: 2, writeQueueNums: 2, perm: 6 })),
        brokerDatas: state.brokers.map((b) => ({ cluster: 'c', brokerName: b, brokerAddrs: { '0': `${b}:1` } })),
        filterServerTable: {},
      };
    },
  } as unknown as NameServerApi;
  return { state, api };
}

describe('RouteCache', () => {
  it('serves the cached route for 30 s, then refreshes it in the background', async () => {
    let now = 1_000_000;
    const { state, api } = fakeNameServer();
    const cache = new RouteCache(api, { now: () => now });
    await cache.get('t');
    for (let i = 0; i < 100; i++) await cache.get('t');
    expect(state.calls).toBe(1);
    now += 29_999;
    await cache.get('t');
    expect(state.calls).toBe(1);
    now += 1;
    state.brokers = ['broker-b'];
    const served = await cache.get('t');
    expect(served.messageQueueList).toHaveLength(4); // the old route, while the refresh runs
    expect(state.calls).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect((await cache.get('t')).messageQueueList.map((q) => q.brokerName)).toEqual(['broker-b', 'broker-b']);
  });

  it('refreshes at once after a failed send, but not twice within the minimum interval', async () => {
    let now = 0;
    const { state, api } = fakeNameServer();
    const cache = new RouteCache(api, { now: () => now, minRefreshIntervalMs: 500 });
    await cache.get('t');
    now += 1_000;
    state.brokers = ['broker-b'];
    const info = await cache.refresh('t');
    expect(state.calls).toBe(2);
    expect(info.messageQueueList.every((q) => q.brokerName === 'broker-b')).toBe(true);
    await cache.refresh('t');
    expect(state.calls).toBe(2);
  });

  it('shares one NameServer call among concurrent lookups', async () => {
    const { state, api } = fakeNameServer();
    let open!: () => void;
    state.gate = new Promise((r) => (open = r));
    const cache = new RouteCache(api);
    const all = Promise.all(Array.from({ length: 20 }, () => cache.get('t')));
    open();
    await all;
    expect(state.calls).toBe(1);
  });

  it('keeps serving a stale route while the NameServer is down', async () => {
    let now = 0;
    const { state, api } = fakeNameServer();
    const cache = new RouteCache(api, { now: () => now });
    await cache.get('t');
    state.fail = new CirrusError('NAMESERVER_UNAVAILABLE', 'down');
    now += 60_000;
    expect((await cache.refresh('t')).ok()).toBe(true);
    const fresh = new RouteCache(api);
    await expect(fresh.get('t')).rejects.toMatchObject({ code: 'NAMESERVER_UNAVAILABLE' });
  });

  it('remembers an unknown topic briefly', async () => {
    let now = 0;
    const { state, api } = fakeNameServer();
    const cache = new RouteCache(api, { now: () => now, notFoundTtlMs: 1_000 });
    for (let i = 0; i < 5; i++) await expect(cache.get('missing')).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    expect(state.calls).toBe(1);
    now += 1_000;
    await expect(cache.get('missing')).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    expect(state.calls).toBe(2);
  });
});
