/**
 * The direct path: POP, ack and change-invisibility straight to the brokers, routes from the
 * NameServer through a RouteCache as the Producer does. A receive asks the topic's brokers in
 * turn (from a rotating start) without waiting, then long-polls all of them at once. A broker
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

export interface BrokerBackendOptions {
  nameServer: NameServerApi;
  routes: RouteCache;
  logger: Logger;
  transport?: BrokerTransportKind;
}

export class BrokerConsumeBackend implements ConsumeBackend {
  private readonly brokers: BrokerClients;
  private readonly faults: BrokerFaultTolerance;
  /** Long polls of earlier receives still open on other brokers (a receive answers with the first). */
  private readonly lingering = new Set<Promise<void>>();
  /** Per topic: where the next receive starts its round over the brokers. */
  private readonly nextBroker = new Map<string, number>();
  /**
   * Topics whose last receive found every broker empty and had to wait: the next one
   * long-polls at once. Until a poll leases for a receive already answered (messages stored
   * on several brokers), which sends the receives back to asking each broker in turn first.
   */
  private readonly idle = new Set<string>();

  constructor(private readonly options: BrokerBackendOptions) {
    this.brokers = new BrokerClients({ maxSockets: 16, transport: options.transport });
    // As the Producer's default: a failed broker is skipped for 10 s.
    this.faults = new BrokerFaultTolerance(10_000);
  }

  async receive(params: ReceiveParams): Promise<MessageView[]> {
    const { topic } = params;
    const info = await this.options.routes.get(topic);
    let readable = readableBrokers(info.route);
    if (readable.length === 0) readable = readableBrokers((await this.options.routes.refresh(topic)).route);
    if (readable.length === 0) throw new CirrusError('NO_ROUTE', `topic ${topic} has no live broker to read from`);
    const available = readable.filter((b) => this.faults.isAvailable(b.brokerName));
    const round = available.length > 0 ? available : readable;
    const start = this.nextBroker.get(topic) ?? Math.floor(Math.random() * round.length);
    this.nextBroker.set(topic, (start + 1) & 0x7fffffff);
    const order = round.map((_, i) => round[(start + i) % round.length]!);
    let lastError: CirrusError | undefined;
    // With one broker the long poll below is the whole receive; with several, first ask each
    // without waiting, so that messages stored on several brokers are not leased from all of
    // them at once (all but one answer released again). At a low rate that pass is an empty
    // pop per broker per receive, so a topic that was idle last time skips it.
    if ((order.length > 1 && !this.idle.has(topic)) || params.waitMs === 0) {
      for (const b of order) {
        try {
          const popped = await this.popFrom(b, params, 0);
          if (popped.length > 0) return popped;
        } catch (e) {
          lastError = e as CirrusError;
          if (!lastError.retriable) throw lastError;
        }
      }
      if (params.waitMs === 0) {
        // Every broker failed: the caller learns why; an empty answer would read as "no message".
        if (lastError && order.every((b) => !this.faults.isAvailable(b.brokerName))) throw lastError;
        return [];
      }
    }
    const waitOn = order.filter((b) => this.faults.isAvailable(b.brokerName));
    this.idle.add(topic);
    return this.longPoll(waitOn.length > 0 ? waitOn : order, params);
  }

  /**
   * Long-polls every broker at once and answers with the first that has messages (as the
   * gateway does): a message arriving on any broker reaches the waiter at once. The other
   * polls are then told to end their wait (END_WAIT): left parked, they would be the broker's
   * oldest waiters and take its next messages for a receive already answered, each leased,
   * released and handed on. What they lease before their answer is released at once (not
   * counted as an attempt).
   */
  private longPoll(brokers: readonly ReadableBroker[], params: ReceiveParams): Promise<MessageView[]> {
    return new Promise<MessageView[]>((resolve, reject) => {
      let pending = brokers.length;
      let failed = 0;
      let answered = false;
      let lastError: CirrusError | undefined;
      const answeredElsewhere = new AbortController();
      for (const b of brokers) {
        const poll: Promise<void> = this.popFrom(b, params, params.waitMs, answeredElsewhere.signal)
          .then(
            (popped) => {
              if (popped.length === 0) return;
              if (!answered) {
                answered = true;
                answeredElsewhere.abort();
                resolve(popped);
                return;
              }
              this.idle.delete(params.topic);
              return this.release(params.group, popped);
            },
            (e) => {
              failed++;
              lastError = e as CirrusError;
            },
          )
          .finally(() => {
            this.lingering.delete(poll);
            if (--pending === 0 && !answered) {
              answered = true;
              if (failed === brokers.length) reject(lastError);
              else resolve([]);
            }
          });
        this.lingering.add(poll);
      }
    });
  }

  /** One pop; a retriable failure marks the broker failed for a while and is rethrown. */
  private async popFrom(b: ReadableBroker, params: ReceiveParams, waitMs: number, endWait?: AbortSignal): Promise<MessageView[]> {
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
          const res = await client.ack({ topic: first.topic, group, receiptHandles: indexes.map((i) => messages[i]!.receiptHandle) });
          settleAcks(outcomes, indexes, res, 'broker');
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

  /** Closes the connections once the long polls still open have ended and released what they leased. */
  close(): void {
    if (this.lingering.size === 0) this.brokers.close();
    else void Promise.allSettled([...this.lingering]).then(() => this.brokers.close());
  }

  private async clientOf(message: MessageView) {
    let addr = (await this.options.routes.get(message.topic)).brokerAddrs.get(message.brokerName);
    if (!addr) addr = (await this.options.routes.refresh(message.topic)).brokerAddrs.get(message.brokerName);
    if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `no address for broker ${message.brokerName}`);
    return this.brokers.get(addr);
  }
}

interface ReadableBroker {
  brokerName: string;
  addr: string;
}

/** The brokers with a master that serves reads of the topic, in name order. */
export function readableBrokers(route: TopicRouteData): ReadableBroker[] {
  const out: ReadableBroker[] = [];
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
