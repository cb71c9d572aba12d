/**
 * The direct path: POP, ack and change-invisibility straight to the brokers, routes from the
 * NameServer through a RouteCache as the Producer does. A receive that may wait long-polls
 * all of the topic's brokers at once, with polls kept from one receive to the next
 * (sticky-long-poll.ts); one that may not asks them in turn from a rotating start. A broker
 * that fails is skipped for a while (BrokerFaultTolerance).
 */
import { BrokerClients } from '../api/broker-client.js';
import type { BrokerTransportKind } from '../remoting/broker-transport.js';
import { RELEASE_INVISIBLE_MS, type SubscriptionGroupConfig } from '../api/consume-types.js';
import type { NameServerApi } from '../api/nameserver-client.js';
import { MASTER_ID, Perm, type TopicRouteData } from '../api/types.js';
import { CirrusError, toCirrusError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BrokerFaultTolerance } from '../route/broker-fault-tolerance.js';
import type { RouteCache } from '../route/route-cache.js';
import type { AckOutcome, ConsumeBackend, ReceiveParams } from './consume-backend.js';
import { entryError, settleAcks } from './entry-error.js';
import type { MessageView } from './message-view.js';
import { type PollTarget, StickyLongPoll } from './sticky-long-poll.js';

export interface BrokerBackendOptions {
  nameServer: NameServerApi;
  routes: RouteCache;
  logger: Logger;
  transport?: BrokerTransportKind;
}

export class BrokerConsumeBackend implements ConsumeBackend {
  private readonly brokers: BrokerClients;
  private readonly faults: BrokerFaultTolerance;
  /** Long polls kept across receives, per (topic, group, filter, invisibility): sticky-long-poll.ts. */
  private readonly polls = new Map<string, StickyLongPoll>();
  /** Per topic: where the next receive without waiting starts its round over the brokers. */
  private readonly nextBroker = new Map<string, number>();

  constructor(private readonly options: BrokerBackendOptions) {
    this.brokers = new BrokerClients({ maxSockets: 16, transport: options.transport });
    // As the Producer's default: a failed broker is skipped for 10 s.
    this.faults = new BrokerFaultTolerance(10_000);
  }

  async receive(params: ReceiveParams): Promise<MessageView[]> {
    const { topic } = params;
    const polls = this.pollsFor(params);
    const held = polls.takeHeld(params.max);
    if (held) return held;
    const info = await this.options.routes.get(topic);
    let readable = readableBrokers(info.route);
    if (readable.length === 0) readable = readableBrokers((await this.options.routes.refresh(topic)).route);
    if (readable.length === 0) throw new CirrusError('NO_ROUTE', `topic ${topic} has no live broker to read from`);
    const available = readable.filter((b) => this.faults.isAvailable(b.brokerName));
    const round = available.length > 0 ? available : readable;
    // A long poll asks every broker at once; a receive without waiting asks them in turn.
    if (params.waitMs > 0) return polls.receive(round, params.max, params.waitMs);
    const start = this.nextBroker.get(topic) ?? Math.floor(Math.random() * round.length);
    this.nextBroker.set(topic, (start + 1) & 0x7fffffff);
    let lastError: CirrusError | undefined;
    for (let i = 0; i < round.length; i++) {
      const b = round[(start + i) % round.length]!;
      try {
        const popped = await this.popFrom(b, params, 0);
        if (popped.length > 0) return popped;
      } catch (e) {
        lastError = e as CirrusError;
        if (!lastError.retriable) throw lastError;
      }
    }
    // Every broker failed: the caller learns why; an empty answer would read as "no message".
    if (lastError && round.every((b) => !this.faults.isAvailable(b.brokerName))) throw lastError;
    return [];
  }

  /** The kept polls of (topic, group) ask `brokerName` again now: the pop leaves in the ack's write. */
  private refillPolls(topic: string, group: string, brokerName: string): void {
    for (const polls of this.polls.values()) if (polls.serves(topic, group)) polls.refill(brokerName);
  }

  private pollsFor(params: ReceiveParams): StickyLongPoll {
    const key = `${params.topic}\u0000${params.group}\u0000${params.invisibleMs}\u0000${params.filter ?? ''}`;
    let polls = this.polls.get(key);
    if (!polls) {
      polls = new StickyLongPoll(params, {
        pop: (b, p, waitMs, endWait) => this.popFrom(b, p, waitMs, endWait),
        release: (messages) => this.release(params.group, messages),
      });
      this.polls.set(key, polls);
    }
    return polls;
  }

  /** One pop; a retriable failure marks the broker failed for a while and is rethrown. */
  private async popFrom(b: PollTarget, params: ReceiveParams, waitMs: number, endWait?: AbortSignal): Promise<MessageView[]> {
    const { topic, group, max, invisibleMs, filter } = params;
    try {
      const popped = await this.brokers.get(b.addr).pop({ topic, group, max, invisibleMs, waitMs, filter }, b.brokerName, endWait);
      this.faults.markOk(b.brokerName);
      return popped;
    } catch (e) {
      const err = toCirrusError(e);
      if (err.retriable) {
        this.options.logger.warn('receive failed', { topic, group, broker: b.brokerName, code: err.code, err: err.message });
        this.faults.markFailed(b.brokerName);
        this.options.routes.refresh(topic).catch(() => {});
      }
      throw err;
    }
  }

  async ack(group: string, messages: readonly MessageView[]): Promise<AckOutcome[]> {
    const outcomes: AckOutcome[] = new Array(messages.length).fill(null);
    await Promise.all(
      [...byBrokerAndTopic(messages)].map(async ([, indexes]) => {
        const first = messages[indexes[0]!]!;
        try {
          const client = await this.clientOf(first);
          const acked = client.ack({ topic: first.topic, group, receiptHandles: indexes.map((i) => messages[i]!.receiptHandle) });
          this.refillPolls(first.topic, group, first.brokerName);
          settleAcks(outcomes, indexes, await acked, 'broker');
        } catch (e) {
          const err = toCirrusError(e);
          for (const i of indexes) outcomes[i] = err;
        }
      }),
    );
    return outcomes;
  }

  async changeInvisibility(group: string, message: MessageView, invisibleMs: number): Promise<string> {
    const client = await this.clientOf(message);
    const res = await client.changeInvisibility({ topic: message.topic, group, entries: [{ receiptHandle: message.receiptHandle, invisibleMs }] });
    const r = res.results[0];
    if (!r) throw new CirrusError('INTERNAL', 'the broker answered no change-invisibility result');
    if (r.status !== 'OK') throw entryError(r);
    return r.receiptHandle;
  }

  async release(group: string, messages: readonly MessageView[]): Promise<void> {
    await Promise.all(
      [...byBrokerAndTopic(messages)].map(async ([, indexes]) => {
        const first = messages[indexes[0]!]!;
        try {
          const client = await this.clientOf(first);
          const entries = indexes.map((i) => ({ receiptHandle: messages[i]!.receiptHandle, invisibleMs: RELEASE_INVISIBLE_MS }));
          await client.changeInvisibility({ topic: first.topic, group, entries });
        } catch (e) {
          const err = toCirrusError(e);
          this.options.logger.warn('release failed; the leases end at their invisibility', {
            topic: first.topic,
            group,
            broker: first.brokerName,
            count: indexes.length,
            code: err.code,
            err: err.message,
          });
        }
      }),
    );
  }

  async groupConfig(group: string): Promise<SubscriptionGroupConfig | undefined> {
    // Through a structural type: the NameServer's group calls are optional for a custom NameServerApi.
    const ns = this.options.nameServer as { ensureGroup?: (g: string) => Promise<SubscriptionGroupConfig> };
    return ns.ensureGroup ? ns.ensureGroup.call(this.options.nameServer, group) : undefined;
  }

  /** Ends the long polls; closes the connections once they have answered and what they leased went back. */
  close(): void {
    const polls = [...this.polls.values()];
    this.polls.clear();
    if (polls.length === 0) this.brokers.close();
    else void Promise.allSettled(polls.map((p) => p.close())).then(() => this.brokers.close());
  }

  private async clientOf(message: MessageView) {
    let addr = (await this.options.routes.get(message.topic)).brokerAddrs.get(message.brokerName);
    if (!addr) addr = (await this.options.routes.refresh(message.topic)).brokerAddrs.get(message.brokerName);
    if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `no address for broker ${message.brokerName}`);
    return this.brokers.get(addr);
  }
}

/** The brokers with a master that serves reads of the topic, in name order. */
export function readableBrokers(route: TopicRouteData): PollTarget[] {
  const out: PollTarget[] = [];
  for (const qd of route.queueDatas) {
    if ((qd.perm & Perm.READ) === 0 || qd.readQueueNums === 0) continue;
    const addr = route.brokerDatas.find((b) => b.brokerName === qd.brokerName)?.brokerAddrs[String(MASTER_ID)];
    if (addr) out.push({ brokerName: qd.brokerName, addr });
  }
  return out.sort((a, b) => a.brokerName.localeCompare(b.brokerName));
}

function byBrokerAndTopic(messages: readonly MessageView[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  let last: MessageView | undefined;
  let lastGroup: number[] | undefined;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    // A batch from one receive shares its broker and topic: no key string per message then.
    if (last && lastGroup && m.brokerName === last.brokerName && m.topic === last.topic) {
      lastGroup.push(i);
      continue;
    }
    const key = `${m.brokerName}\u0000${m.topic}`;
    lastGroup = groups.get(key);
    if (lastGroup) lastGroup.push(i);
    else groups.set(key, (lastGroup = [i]));
    last = m;
  }
  return groups;
}
