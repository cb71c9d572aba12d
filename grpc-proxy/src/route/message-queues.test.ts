import type { TopicRouteData } from '@cirrusmq/client/protocol';
import { describe, expect, it } from 'vitest';
import { assignmentQueues, routeMessageQueues } from './message-queues';

const endpoints = { scheme: 'IPv4', addresses: [{ host: 'proxy.example', port: 8081 }] };

function route(): TopicRouteData {
  return {
    topic: 't',
    queueDatas: [
      { brokerName: 'broker-b', readQueueNums: 2, writeQueueNums: 3, perm: 6 },
      { brokerName: 'broker-a', readQueueNums: 2, writeQueueNums: 2, perm: 4 },
      { brokerName: 'broker-gone', readQueueNums: 4, writeQueueNums: 4, perm: 6 },
    ],
    brokerDatas: [
      { cluster: 'c', brokerName: 'broker-a', brokerAddrs: { '0': '10.0.0.1:10911' } },
      { cluster: 'c', brokerName: 'broker-b', brokerAddrs: { '0': '10.0.0.2:10911' } },
      { cluster: 'c', brokerName: 'broker-gone', brokerAddrs: { '1': '10.0.0.3:10911' } },
    ],
    filterServerTable: {},
  };
}

const summary = (qs: ReturnType<typeof routeMessageQueues>) => qs.map((q) => `${q.broker.name}/${q.id}:${q.permission}`);

describe('routes as RocketMQ 5 clients see them', () => {
  it('lists every queue of each broker with a master, under the real queue ids, with per-queue permissions, at the requested endpoints', () => {
    const qs = routeMessageQueues(route(), endpoints);
    expect(summary(qs)).toEqual(['broker-a/0:READ', 'broker-a/1:READ', 'broker-b/0:READ_WRITE', 'broker-b/1:READ_WRITE', 'broker-b/2:WRITE']);
    for (const q of qs) {
      expect(q.broker.endpoints).toEqual(endpoints);
      expect(q.broker.id).toBe(0);
      expect(q.accept_message_types).toContain('NORMAL');
      expect(q.accept_message_types).toContain('FIFO');
    }
  });

  it('assigns one broker-wide queue (id -1) per readable broker to a plain group, one per read queue to a FIFO group', () => {
    expect(summary(assignmentQueues(route(), endpoints, false))).toEqual(['broker-a/-1:READ', 'broker-b/-1:READ_WRITE']);
    expect(summary(assignmentQueues(route(), endpoints, true))).toEqual([
      'broker-a/0:READ',
      'broker-a/1:READ',
      'broker-b/0:READ_WRITE',
      'broker-b/1:READ_WRITE',
    ]);
  });
});
