/**
 * A consumer for stream processors (Kafka's consumer, RocketMQ's LitePullConsumer with
 * assign): it reads queues itself from its own positions through the brokers' pull API, with
 * no leases, and commits the positions to the broker as the group's offsets. Positions start
 * at the group's committed offsets (BrokerClient.progress). A commit never moves an offset
 * back: after a seek backwards, the broker keeps the higher offset until a reset.
 */
import { BrokerClients, type BrokerClient } from '../api/broker-client.js';
import type { BrokerTransportKind } from '../remoting/broker-transport.js';
import { NameServerClient, type NameServerApi } from '../api/nameserver-client.js';
import { CirrusError, toCirrusError } from '../errors.js';
import type { MessageExt, MessageQueue } from '../message.js';
import { RouteCache } from '../route/route-cache.js';
import { validateGroup, validateTopic } from '../validation.js';
import { readableBrokers } from './broker-backend.js';

export interface PullConsumerOptions {
  /** "host:port" of the NameServer, or an API object. */
  nameServer: string | NameServerApi;
  group: string;
  /** Messages one poll returns at most (32). */
  maxPollRecords?: number;
  /** Tag filter expression for every assigned topic (`TagA || TagB`, `*`). */
  filter?: string;
  /** How long an idle poll sleeps before it asks the queues again (100 ms). */
  pollIntervalMs?: number;
  /** How this client reaches the brokers: 'remoting' (default: frames on one persistent connection per broker, HTTP where a broker refuses) or 'http' (HTTP/1.1 only). */
  transport?: BrokerTransportKind;
}

/** A pulled message and the broker it came from. */
export interface PulledMessage extends MessageExt {
  brokerName: string;
}

interface Position {
  mq: MessageQueue;
  addr: string;
  /** The next offset poll reads. */
  offset: number;
  /** What the broker holds as committed for the group. */
  committed: number;
}

export class PullConsumer {
  readonly group: string;
  private readonly nameServer: NameServerApi;
  private readonly ownsNameServer: boolean;
  private readonly routes: RouteCache;
  private readonly brokers: BrokerClients;
  private readonly positions = new Map<string, Position>();
  private readonly maxPollRecords: number;
  private readonly pollIntervalMs: number;
  private readonly filter: string | undefined;
  private next = 0;

  constructor(options: PullConsumerOptions) {
    this.group = validateGroup(options.group);
    this.ownsNameServer = typeof options.nameServer === 'string';
    this.nameServer = typeof options.nameServer === 'string' ? new NameServerClient(options.nameServer) : options.nameServer;
    this.routes = new RouteCache(this.nameServer);
    this.maxPollRecords = options.maxPollRecords ?? 32;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.filter = options.filter;
    this.brokers = new BrokerClients({ maxSockets: 8, transport: options.transport });
  }

  /**
   * Takes `queues` of `topic` (all its readable queues when none are named) and starts each
   * at the group's committed offset. Returns the queues assigned.
   */
  async assign(topic: string, queues?: readonly MessageQueue[]): Promise<MessageQueue[]> {
    validateTopic(topic);
    const info = await this.routes.get(topic);
    const brokers = readableBrokers(info.route);
    const all: MessageQueue[] = [];
    for (const b of brokers) {
      const qd = info.route.queueDatas.find((q) => q.brokerName === b.brokerName)!;
      for (let queueId = 0; queueId < qd.readQueueNums; queueId++) all.push({ topic, brokerName: b.brokerName, queueId });
    }
    const wanted = queues ?? all;
    for (const mq of wanted) {
      if (!all.some((q) => q.brokerName === mq.brokerName && q.queueId === mq.queueId)) {
        throw new CirrusError('QUEUE_NOT_FOUND', `queue ${mq.brokerName}/${mq.queueId} of ${topic} is not readable`);
      }
    }
    const byBroker = new Map<string, MessageQueue[]>();
    for (const mq of wanted) byBroker.set(mq.brokerName, [...(byBroker.get(mq.brokerName) ?? []), mq]);
    await Promise.all(
      [...byBroker].map(async ([brokerName, mqs]) => {
        const addr = brokers.find((b) => b.brokerName === brokerName)!.addr;
        const progress = await this.brokers.get(addr).progress(topic, this.group);
        for (const mq of mqs) {
          const q = progress.queues.find((p) => p.queueId === mq.queueId);
          const committed = q?.committedOffset ?? 0;
          this.positions.set(keyOf(mq), { mq: { topic, brokerName, queueId: mq.queueId }, addr, offset: committed, committed });
        }
      }),
    );
    return wanted.map((mq) => ({ topic, brokerName: mq.brokerName, queueId: mq.queueId }));
  }

  /** The queues assigned, with the next offset poll reads from each. */
  assignment(): (MessageQueue & { offset: number; committed: number })[] {
    return [...this.positions.values()].map((p) => ({ ...p.mq, offset: p.offset, committed: p.committed }));
  }

  /**
   * Messages from the assigned queues (one queue per call, queues in turn), waiting up to
   * `timeoutMs` for one to arrive; an empty list when none did.
   */
  async poll(timeoutMs: number): Promise<PulledMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = [...this.positions.values()];
      if (list.length === 0) throw new CirrusError('INVALID_PARAMETER', 'no queue assigned');
      for (let i = 0; i < list.length; i++) {
        const p = list[this.next++ % list.length]!;
        const messages = await this.pullFrom(p);
        if (messages.length > 0) return messages;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await new Promise((r) => setTimeout(r, Math.min(left, this.pollIntervalMs)));
    }
  }

  /** Makes the next poll of `queue` read from `offset`. */
  seek(queue: MessageQueue, offset: number): void {
    const p = this.positions.get(keyOf(queue));
    if (!p) throw new CirrusError('INVALID_PARAMETER', `queue ${queue.brokerName}/${queue.queueId} of ${queue.topic} is not assigned`);
    if (!Number.isInteger(offset) || offset < 0) throw new CirrusError('INVALID_PARAMETER', 'offset must be a non-negative integer');
    p.offset = offset;
  }

  /** Commits each queue's position that is ahead of its committed offset (never backwards). */
  async commit(): Promise<void> {
    await Promise.all(
      [...this.positions.values()]
        .filter((p) => p.offset > p.committed)
        .map(async (p) => {
          const offset = p.offset;
          const progress = await this.brokers.get(p.addr).commitOffset({ topic: p.mq.topic, group: this.group, queueId: p.mq.queueId, offset });
          const q = progress.queues.find((x) => x.queueId === p.mq.queueId);
          p.committed = Math.max(p.committed, q?.committedOffset ?? offset);
        }),
    );
  }

  close(): void {
    this.brokers.close();
    if (this.ownsNameServer) (this.nameServer as NameServerClient).close();
  }

  private async pullFrom(p: Position): Promise<PulledMessage[]> {
    const client: BrokerClient = this.brokers.get(p.addr);
    let result;
    try {
      result = await client.pull(p.mq.topic, p.mq.queueId, p.offset, this.maxPollRecords, this.filter);
    } catch (e) {
      const err = toCirrusError(e);
      // Retention deleted the position: carry on from the oldest message still kept.
      if (err.code === 'OFFSET_BELOW_MINIMUM' && typeof err.details?.minOffset === 'number') {
        p.offset = err.details.minOffset;
        return [];
      }
      throw err;
    }
    p.offset = result.nextOffset;
    return result.messages.map((m) => ({ ...m, brokerName: p.mq.brokerName }));
  }
}

function keyOf(mq: MessageQueue): string {
  return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`;
}
