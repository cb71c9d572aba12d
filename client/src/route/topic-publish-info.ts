/**
 * TopicPublishInfo: a topic's writable queues and the round-robin index over them, as
 * RocketMQ's producer keeps it (topicRouteData2TopicPublishInfo + selectOneMessageQueue).
 */
import { MASTER_ID, Perm, type TopicRouteData } from '../api/types.js';
import type { MessageQueue } from '../message.js';

export class TopicPublishInfo {
  /** By broker, then queue id: what a sharding key hashes into (selectQueueByHash). */
  readonly messageQueueList: readonly MessageQueue[];
  /**
   * The same queues, the brokers taking turns (a0, b0, a1, b1, ...): round-robin's order, so
   * consecutive sends go to different brokers. With a few requests in flight (the gateway's
   * autoBatch keeps two per topic) they then keep every broker busy, where a0, a1, a2, a3
   * left one broker idle while the other took four.
   */
  private readonly roundRobinList: readonly MessageQueue[];
  /** brokerName -> master address */
  readonly brokerAddrs: ReadonlyMap<string, string>;
  private sendWhichQueue: number;

  constructor(
    readonly route: TopicRouteData,
    startIndex = Math.floor(Math.random() * 1024),
  ) {
    const addrs = new Map<string, string>();
    for (const bd of route.brokerDatas) {
      const master = bd.brokerAddrs[String(MASTER_ID)];
      if (master) addrs.set(bd.brokerName, master);
    }
    const queues: MessageQueue[] = [];
    const queueDatas = [...route.queueDatas].sort((a, b) => a.brokerName.localeCompare(b.brokerName));
    for (const qd of queueDatas) {
      // Only a master with write permission takes messages.
      if ((qd.perm & Perm.WRITE) === 0 || !addrs.has(qd.brokerName)) continue;
      for (let i = 0; i < qd.writeQueueNums; i++) queues.push({ topic: route.topic, brokerName: qd.brokerName, queueId: i });
    }
    this.messageQueueList = queues;
    this.roundRobinList = interleaveBrokers(queues);
    this.brokerAddrs = addrs;
    this.sendWhichQueue = startIndex;
  }

  ok(): boolean {
    return this.messageQueueList.length > 0;
  }

  /**
   * Round-robin; on a retry, the first queue not on `lastBrokerName` (the broker that just
   * failed), falling back to plain round-robin when every queue is on it.
   */
  selectOneMessageQueue(lastBrokerName?: string, isAvailable?: (brokerName: string) => boolean): MessageQueue {
    const list = this.roundRobinList;
    if (list.length === 0) throw new Error('TopicPublishInfo has no queue');
    for (let i = 0; i < list.length; i++) {
      const mq = list[this.nextIndex() % list.length]!;
      if (mq.brokerName !== lastBrokerName && (isAvailable?.(mq.brokerName) ?? true)) return mq;
    }
    if (lastBrokerName !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const mq = list[this.nextIndex() % list.length]!;
        if (mq.brokerName !== lastBrokerName) return mq;
      }
    }
    return list[this.nextIndex() % list.length]!;
  }

  private nextIndex(): number {
    this.sendWhichQueue = (this.sendWhichQueue + 1) & 0x7fffffff;
    return this.sendWhichQueue;
  }
}

/** Queues grouped by broker (messageQueueList's order) dealt out one broker at a time: a0, b0, a1, b1, a2, a3 when a has 4 and b 2. */
function interleaveBrokers(queues: readonly MessageQueue[]): MessageQueue[] {
  const byBroker = new Map<string, MessageQueue[]>();
  for (const q of queues) {
    let list = byBroker.get(q.brokerName);
    if (!list) byBroker.set(q.brokerName, (list = []));
    list.push(q);
  }
  const lists = [...byBroker.values()];
  const out: MessageQueue[] = [];
  for (let i = 0; out.length < queues.length; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}
