import { describe, expect, it } from 'vitest';
import { CirrusError } from '@cirrusmq/client/protocol';
import { SubscriptionGroupManager } from './subscription-group-manager';
import { FakeNameServer } from './testing/fake-nameserver';

describe('SubscriptionGroupManager', () => {
  it('creates a group on first use with the defaults, once for concurrent callers, then serves it from memory', async () => {
    const ns = new FakeNameServer();
    ns.ensureGroupDelayMs = 20;
    const m = new SubscriptionGroupManager(ns);
    const all = await Promise.all([m.getOrCreate('billing'), m.getOrCreate('billing'), m.getOrCreate('billing')]);
    expect(all.map((g) => g.group)).toEqual(['billing', 'billing', 'billing']);
    expect(all[0]).toMatchObject({ retryMaxTimes: 16, orderly: false, consumeFrom: 'latest' });
    expect(ns.ensureGroupCalls).toBe(1);
    expect(ns.groups.has('billing')).toBe(true);
    await m.getOrCreate('billing');
    expect(ns.ensureGroupCalls).toBe(1);
    expect(m.selectSubscriptionGroupConfig('billing')?.group).toBe('billing');
  });

  it('answers the config the NameServer holds, and sees a change after the refresh period', async () => {
    const ns = new FakeNameServer();
    await ns.putGroup('g', { retryMaxTimes: 3, orderly: true });
    let now = 1_000;
    const m = new SubscriptionGroupManager(ns, () => now, 30_000);
    expect(await m.getOrCreate('g')).toMatchObject({ retryMaxTimes: 3, orderly: true });
    await ns.putGroup('g', { retryMaxTimes: 5 });
    now += 29_999;
    expect((await m.getOrCreate('g')).retryMaxTimes).toBe(3);
    now += 1;
    expect((await m.getOrCreate('g')).retryMaxTimes).toBe(5);
    expect(ns.ensureGroupCalls).toBe(2);
  });

  it('refuses bad and reserved names without asking the NameServer', async () => {
    const ns = new FakeNameServer();
    const m = new SubscriptionGroupManager(ns);
    for (const bad of ['', 'a b', '%DLQ%g', '%RETRY%g', 'rmq_sys_g', 'x'.repeat(65)]) {
      await expect(m.getOrCreate(bad)).rejects.toMatchObject({ code: 'INVALID_GROUP', status: 400 });
    }
    expect(ns.ensureGroupCalls).toBe(0);
  });

  it('keeps serving a known group through a NameServer outage, and fails an unknown one retriably', async () => {
    const ns = new FakeNameServer();
    let down = false;
    let now = 0;
    const m = new SubscriptionGroupManager(
      { ensureGroup: (g) => (down ? Promise.reject(new CirrusError('NAMESERVER_UNAVAILABLE', 'down')) : ns.ensureGroup(g)) },
      () => now,
      1_000,
    );
    await m.getOrCreate('known');
    down = true;
    now += 5_000;
    expect((await m.getOrCreate('known')).group).toBe('known');
    await expect(m.getOrCreate('unknown')).rejects.toMatchObject({ code: 'NAMESERVER_UNAVAILABLE', retriable: true });
    down = false;
    expect((await m.getOrCreate('unknown')).group).toBe('unknown');
  });

  it('bounds the groups it remembers', async () => {
    const ns = new FakeNameServer();
    const m = new SubscriptionGroupManager(ns, Date.now, 30_000, 2);
    await m.getOrCreate('a');
    await m.getOrCreate('b');
    await m.getOrCreate('c');
    expect(m.selectSubscriptionGroupConfig('a')).toBeUndefined();
    expect(m.selectSubscriptionGroupConfig('c')?.group).toBe('c');
    await m.getOrCreate('a');
    expect(ns.ensureGroupCalls).toBe(4);
  });
});
