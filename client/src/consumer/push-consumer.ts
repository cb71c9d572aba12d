/**
 * RocketMQ 5's PushConsumer: a receive loop leases messages into a bounded local cache
 * (maxCacheMessageCount) and a bounded number of listeners (consumptionThreadCount) handle
 * them. SUCCESS acks; FAILURE or a throw makes the message invisible for the retry backoff
 * of its attempt, after which the broker delivers it again with deliveryAttempt + 1 (or
 * dead-letters it). For an orderly group the messages of one queue are handled one at a
 * time in offset order, and a failure holds back the rest of that queue's batch with it.
 */
import { ConsumeLimits } from '../api/consume-types.js';
import { CirrusError, toCirrusError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { MessageView } from './message-view.js';
import { DEFAULT_RETRY_BACKOFF, retryDelayMs, type RetryBackoff } from './retry-backoff.js';
import { SimpleConsumer, type SimpleConsumerOptions } from './simple-consumer.js';

/**
 * What a listener answers (RocketMQ 5's ConsumeResult). Return `ConsumeResult.SUCCESS` rather
 * than the bare string from an async listener: TypeScript widens a lone string literal
 * returned there to `string`.
 */
export const ConsumeResult = { SUCCESS: 'SUCCESS', FAILURE: 'FAILURE' } as const;
export type ConsumeResult = (typeof ConsumeResult)[keyof typeof ConsumeResult];

export type MessageListener = (message: MessageView) => Promise<ConsumeResult> | ConsumeResult;

export interface PushConsumerOptions extends SimpleConsumerOptions {
  messageListener: MessageListener;
  /** Listeners running at once (RocketMQ's consumptionThreadCount, 20). */
  consumptionThreadCount?: number;
  /** Messages received and not yet handled, at most (RocketMQ's maxCacheMessageCount, 1024). */
  maxCacheMessageCount?: number;
  /** The invisibility after a failed attempt; exponential from 1 s to 60 s by default. */
  retryBackoff?: RetryBackoff;
  /** Orderly delivery per queue; unset: the group's `orderly` setting. */
  orderly?: boolean;
}

export class PushConsumer {
  private readonly consumer: SimpleConsumer;
  private readonly listener: MessageListener;
  private readonly threads: number;
  private readonly maxCache: number;
  private readonly backoff: RetryBackoff;
  private readonly logger: Logger;
  private orderly: boolean | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  /** Received and not finished (waiting or in a listener). */
  private cached = 0;
  private active = 0;
  /** Unordered: messages waiting for a listener. */
  private readonly pendingUnordered: MessageView[] = [];
  /** Orderly: per queue, its messages not yet handled, in offset order. */
  private readonly queues = new Map<string, MessageView[]>();
  private readonly busyQueues = new Set<string>();
  /** Acks waiting for the next batched request. */
  private readonly acks: { m: MessageView; resolve: (err: CirrusError | null) => void }[] = [];
  /** Ends the receive loop's wait for room in the cache. */
  private wake: (() => void) | undefined;
  /** Ends the receive loop's pause after a failed receive. */
  private wakePause: (() => void) | undefined;
  private idle: (() => void) | undefined;

  constructor(options: PushConsumerOptions) {
    if (typeof options.messageListener !== 'function') throw new CirrusError('INVALID_PARAMETER', 'messageListener must be a function');
    this.threads = positive('consumptionThreadCount', options.consumptionThreadCount ?? 20);
    this.maxCache = positive('maxCacheMessageCount', options.maxCacheMessageCount ?? 1024);
    this.listener = options.messageListener;
    this.backoff = options.retryBackoff ?? DEFAULT_RETRY_BACKOFF;
    this.logger = options.logger ?? silentLogger;
    this.orderly = options.orderly;
    // Short long polls by default: shutdown waits for the receive in flight.
    this.consumer = new SimpleConsumer({ awaitDuration: 5_000, ...options });
  }

  get group(): string {
    return this.consumer.group;
  }

  /** Messages received and not yet handled (bounded by maxCacheMessageCount). */
  get cachedMessageCount(): number {
    return this.cached;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (this.orderly === undefined) this.orderly = (await this.consumer.groupConfig())?.orderly ?? false;
    this.running = true;
    this.loop = this.receiveLoop();
  }

  /**
   * Stops receiving, waits for the receive in flight and the listeners running, acks what
   * they finished, and hands back (invisibility ended soon) what was cached and not started.
   */
  async shutdown(): Promise<void> {
    if (!this.running && !this.loop) return this.consumer.close();
    this.running = false;
    this.wake?.();
    this.wakePause?.();
    await this.loop;
    this.loop = undefined;
    const queued = [...this.queues.values()].flat();
    this.queues.clear();
    const unstarted = [...this.pendingUnordered.splice(0), ...queued];
    await this.consumer.release(unstarted);
    this.done(unstarted.length);
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.consumer.close();
  }

  private async receiveLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const room = this.maxCache - this.cached;
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      let messages: MessageView[];
      try {
        messages = await this.consumer.receive(Math.min(room, ConsumeLimits.MAX_RECEIVE));
        failures = 0;
      } catch (e) {
        const err = toCirrusError(e);
        this.logger.warn('receive failed', { group: this.group, code: err.code, err: err.message });
        // Back off (up to 5 s) so a down cluster is not hammered; shutdown cuts the pause short.
        const pause = Math.min(5_000, 100 * 2 ** failures++);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, pause);
          this.wakePause = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakePause = undefined;
        continue;
      }
      if (!this.running) {
        await this.consumer.release(messages);
        break;
      }
      this.cached += messages.length;
      if (this.orderly) this.enqueueOrderly(messages);
      else this.pendingUnordered.push(...messages);
      this.pump();
    }
  }

  private enqueueOrderly(messages: MessageView[]): void {
    for (const m of messages) {
      const key = queueKey(m);
      const q = this.queues.get(key);
      if (q) q.push(m);
      else this.queues.set(key, [m]);
    }
    for (const q of this.queues.values()) q.sort((a, b) => a.queueOffset - b.queueOffset);
  }

  /** Starts listeners while there is work and a free thread. */
  private pump(): void {
    while (this.active < this.threads) {
      const next = this.orderly ? this.nextOrderly() : this.pendingUnordered.shift();
      if (!next) return;
      this.active++;
      void this.handle(next).finally(() => {
        this.active--;
        if (this.orderly) this.busyQueues.delete(queueKey(next));
        if (this.running) this.pump();
        if (this.active === 0) this.idle?.();
      });
    }
  }

  /** The first message of a queue no listener is working on. */
  private nextOrderly(): MessageView | undefined {
    for (const [key, q] of this.queues) {
      if (this.busyQueues.has(key)) continue;
      const m = q.shift();
      if (q.length === 0) this.queues.delete(key);
      if (!m) continue;
      this.busyQueues.add(key);
      return m;
    }
    return undefined;
  }

  private async handle(m: MessageView): Promise<void> {
    let result: ConsumeResult;
    try {
      result = await this.listener(m);
    } catch (e) {
      this.logger.warn('listener threw', { group: this.group, topic: m.topic, messageId: m.messageId, err: e instanceof Error ? e.message : String(e) });
      result = 'FAILURE';
    }
    try {
      if (result === 'SUCCESS') {
        const err = await this.ackBatched(m);
        if (err) throw err;
      } else {
        const delay = retryDelayMs(this.backoff, m.deliveryAttempt);
        // Orderly: the messages after it in its queue come back with it, so none overtakes it.
        const held = this.orderly ? this.takeQueue(queueKey(m)) : [];
        await Promise.all([m, ...held].map((x) => this.setInvisible(x, delay)));
      }
    } catch (e) {
      const err = toCirrusError(e);
      this.logger.warn(result === 'SUCCESS' ? 'ack failed' : 'change-invisibility failed', {
        group: this.group,
        topic: m.topic,
        messageId: m.messageId,
        code: err.code,
        err: err.message,
      });
    } finally {
      this.done(1);
    }
  }

  /**
   * Acks finished in one turn of the event loop travel in one request (up to
   * MAX_ACK_ENTRIES): a request per message would cost the brokers more than the listeners do.
   */
  private ackBatched(m: MessageView): Promise<CirrusError | null> {
    return new Promise((resolve) => {
      this.acks.push({ m, resolve });
      if (this.acks.length === 1) setImmediate(() => void this.flushAcks());
    });
  }

  private async flushAcks(): Promise<void> {
    const batch = this.acks.splice(0, ConsumeLimits.MAX_ACK_ENTRIES);
    if (this.acks.length > 0) setImmediate(() => void this.flushAcks());
    let errors: (CirrusError | null)[];
    try {
      errors = await this.consumer.ackAll(batch.map((a) => a.m));
    } catch (e) {
      errors = batch.map(() => toCirrusError(e));
    }
    batch.forEach((a, i) => a.resolve(errors[i] ?? null));
  }

  private takeQueue(key: string): MessageView[] {
    const q = this.queues.get(key) ?? [];
    this.queues.delete(key);
    this.done(q.length);
    return q;
  }

  private async setInvisible(m: MessageView, ms: number): Promise<void> {
    try {
      await this.consumer.changeInvisibleDuration(m, ms);
    } catch (e) {
      const err = toCirrusError(e);
      this.logger.warn('change-invisibility failed', { group: this.group, topic: m.topic, messageId: m.messageId, code: err.code, err: err.message });
    }
  }

  private done(n: number): void {
    if (n === 0) return;
    this.cached -= n;
    this.wake?.();
  }
}

function queueKey(m: MessageView): string {
  return `${m.brokerName}\u0000${m.topic}\u0000${m.queueId}`;
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new CirrusError('INVALID_PARAMETER', `${name} must be a positive integer`);
  return v;
}
