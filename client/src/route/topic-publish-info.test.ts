import { describe, expect, it } from 'vitest';
import { Perm, type TopicRouteData } from '../api/types.js';
import { TopicPublishInfo } from './topic-publish-info.js';

function route(queues: Record<string, number>, perms: Record<string, number> = {}): TopicRouteData {
  const names = Object.keys(queues);
  return {
    topic: 't',
    queueDatas: names.map((n) => ({ brokerName: n, readQueueNums: queues[n]!, writeQueueNums: queues[n]!, perm: perms[n] ?? Perm.READ_WRITE })),
    brokerDatas: names.map((n) => ({ cluster: 'c', brokerName: n, brokerAddrs: { '0': `${n}:1` } })),
    filterServerTable: {},
  };
}

describe('TopicPublishInfo', () => {
  it('lists writable queues sorted by broker and goes round-robin, the brokers taking turns', () => {
    const info = new TopicPublishInfo(route({ 'broker-b': 2, 'broker-a': 2 }), 0);
    expect(info.messageQueueList.map((q) => `${q.brokerName}/${q.queueId}`)).toEqual(['broker-a/0', 'broker-a/1', 'broker-b/0', 'broker-b/1']);
    const picks = Array.from({ length: 8 }, () => info.selectOneMessageQueue());
    expect(picks.map((q) => `${q.brokerName}/${q.queueId}`)).toEqual([
      'broker-b/0',
      'broker-a/1',
      'broker-b/1',
      'broker-a/0',
      'broker-b/0',
      'broker-a/1',
      'broker-b/1',
      'broker-a/0',
    ]);
  });

  it('deals the brokers out in turn when their queue counts differ, every queue as often', () => {
    const info = new TopicPublishInfo(route({ 'broker-a': 4, 'broker-b': 2, 'broker-c': 1 }), 0);
    const picks = Array.from({ length: 14 }, () => info.selectOneMessageQueue()).map((q) => `${q.brokerName}/${q.queueId}`);
    expect(picks.slice(0, 7)).toEqual(['broker-b/0', 'broker-c/0', 'broker-a/1', 'broker-b/1', 'broker-a/2', 'broker-a/3', 'broker-a/0']);
    expect(picks.slice(7)).toEqual(picks.slice(0, 7));
  });

  it('skips the broker that just failed (lastBrokerName)', () => {
    const info = new TopicPublishInfo(route({ 'broker-a': 4, 'broker-b': 4 }));
    for (let i = 0; i < 50; i++) expect(info.selectOneMessageQueue('broker-a').brokerName).toBe('broker-b');
  });

  it('falls back to any queue when every queue is on the failed broker', () => {
    const info = new TopicPublishInfo(route({ 'broker-a': 2 }));
    expect(info.selectOneMessageQueue('broker-a').brokerName).toBe('broker-a');
  });

  it('avoids isolated brokers, but not at the price of the failed one', () => {
    const info = new TopicPublishInfo(route({ 'broker-a': 2, 'broker-b': 2 }));
    for (let i = 0; i < 20; i++) expect(info.selectOneMessageQueue(undefined, (b) => b !== 'broker-b').brokerName).toBe('broker-a');
    // every broker isolated: still never the one that just failed
    for (let i = 0; i < 20; i++) expect(info.selectOneMessageQueue('broker-a', () => false).brokerName).toBe('broker-b');
  });

  it('leaves out read-only queues and brokers without a master address', () => {
    const r = route({ 'broker-a': 2, 'broker-b': 2 }, { 'broker-a': Perm.READ });
    expect(new TopicPublishInfo(r).messageQueueList.every((q) => q.brokerName === 'broker-b')).toBe(true);
    const noMaster = route({ 'broker-a': 2 });
    noMaster.brokerDatas = [];
    expect(new TopicPublishInfo(noMaster).ok()).toBe(false);
  });
});
