import { CirrusError, type NameServerApi, type SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import { describe, expect, it } from 'vitest';
import { GroupSettings } from './group-settings';

function fakeNameServer() {
  const state = { calls: 0, orderly: false, down: false };
  const api = {
    async ensureGroup(group: string): Promise<SubscriptionGroupConfig> {
      state.calls++;
      if (state.down) throw new CirrusError('NAMESERVER_UNAVAILABLE', 'down');
      return { group, retryMaxTimes: 16, orderly: state.orderly, consumeFrom: 'latest', createdAt: 1 };
    },
  } as unknown as NameServerApi;
  return { api, state };
}

describe('GroupSettings', () => {
  it('asks the NameServer once per group per TTL, concurrent asks sharing one call, and sees a change after the TTL', async () => {
    const { api, state } = fakeNameServer();
    let now = 0;
    const groups = new GroupSettings(api, 1_000, () => now);
    const [a, b] = await Promise.all([groups.get('g'), groups.get('g')]);
    expect(a.orderly).toBe(false);
    expect(b).toBe(a);
    expect(state.calls).toBe(1);
    state.orderly = true;
    now = 999;
    expect((await groups.get('g')).orderly).toBe(false);
    now = 1_000;
    expect((await groups.get('g')).orderly).toBe(true);
    expect(state.calls).toBe(2);
  });

  it('keeps serving a known group while the NameServer is down, and fails for a group it never saw', async () => {
    const { api, state } = fakeNameServer();
    let now = 0;
    const groups = new GroupSettings(api, 1_000, () => now);
    await groups.get('known');
    state.down = true;
    now = 5_000;
    expect((await groups.get('known')).group).toBe('known');
    await expect(groups.get('unknown')).rejects.toMatchObject({ code: 'NAMESERVER_UNAVAILABLE' });
  });
});
