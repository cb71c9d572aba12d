import { describe, expect, it } from 'vitest';
import { FakeNameServer } from './testing/fake-nameserver';
import { TopicConfigManager } from './topic-config-manager';
import { CirrusError } from '@cirrusmq/client/protocol';

describe('TopicConfigManager', () => {
  it('serves the topics of the last registration answer without asking', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 4);
    const m = new TopicConfigManager('broker-a', ns);
    m.updateFromRegistration(await ns.registerBroker({ clusterName: 'C', brokerName: 'broker-a', brokerId: 0, brokerAddr: 'x:1', startedAt: 0 }));
    expect((await m.checkWritable('T', 3)).writeQueueNums).toBe(4);
    expect(ns.getTopicCalls).toBe(0);
    // A heartbeat without the topic removes it.
    m.updateFromRegistration({ topics: [], expiresAtMs: 0 });
    expect(m.selectTopicConfig('T')).toBeUndefined();
  });

  it('loads an unknown topic once for concurrent callers and caches a miss for a second', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 2);
    ns.getTopicDelayMs = 20;
    let now = 1_000;
    const m = new TopicConfigManager('broker-a', ns, () => now);
    const all = await Promise.all([m.checkWritable('T', 0), m.checkReadable('T', 1), m.getTopicConfig('T')]);
    expect(all.every((c) => c.topic === 'T')).toBe(true);
    expect(ns.getTopicCalls).toBe(1);

    const misses = await Promise.allSettled([m.getTopicConfig('U'), m.getTopicConfig('U')]);
    expect(misses.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(ns.getTopicCalls).toBe(2);
    await expect(m.getTopicConfig('U')).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    expect(ns.getTopicCalls).toBe(2);
    ns.addTopic('U', 1);
    now += 1_001;
    expect((await m.getTopicConfig('U')).topic).toBe('U');
    expect(ns.getTopicCalls).toBe(3);
  });

  it('answers TOPIC_NOT_FOUND for a topic with no queues here, INVALID_QUEUE / QUEUE_NOT_FOUND for bad queue ids', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('Other', 4, 'broker-b');
    ns.addTopic('T', 4, 'broker-a', 2);
    const m = new TopicConfigManager('broker-a', ns);
    await expect(m.checkWritable('Other', 0)).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404 });
    await expect(m.checkWritable('T', 4)).rejects.toMatchObject({ code: 'INVALID_QUEUE', status: 400 });
    await expect(m.checkReadable('T', 2)).rejects.toMatchObject({ code: 'QUEUE_NOT_FOUND', status: 404 });
    expect((await m.checkWritable('T', 3)).topic).toBe('T');
  });

  it('does not cache a NameServer outage as a miss', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('T', 1);
    let down = true;
    const m = new TopicConfigManager('broker-a', {
      getTopic: (t) => (down ? Promise.reject(new CirrusError('NAMESERVER_UNAVAILABLE', 'down')) : ns.getTopic(t)),
    });
    await expect(m.getTopicConfig('T')).rejects.toMatchObject({ code: 'NAMESERVER_UNAVAILABLE', retriable: true });
    down = false;
    expect((await m.getTopicConfig('T')).topic).toBe('T');
  });
});
