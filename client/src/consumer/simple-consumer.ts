/**
 * RocketMQ 5's SimpleConsumer: the application pulls leased messages with `receive`, then
 * `ack`s each one it handled or moves its lease with `changeInvisibleDuration`. A message not
 * acked before its invisibility ends comes back, to any consumer of the group, with
 * deliveryAttempt + 1. Straight to the brokers (`nameServer`) or through the gateway
 * (`gateway`); the calls and the messages are the same either way.
 */
import { ConsumeLimits } from '../api/consume-types.js';
import type { BrokerTransportKind } from '../remoting/broker-transport.js';
import { GatewayClient } from '../api/gateway-client.js';
import { NameServerClient, type NameServerApi } from '../api/nameserver-client.js';
import { CirrusError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { RouteCache } from '../route/route-cache.js';
import { validateGroup, validateTopic } from '../validation.js';
import { BrokerConsumeBackend } from './broker-backend.js';
import type { ConsumeBackend } from './consume-backend.js';
import { GatewayConsumeBackend } from './gateway-backend.js';
import type { MessageView } from './message-view.js';

export interface ConsumerConnection {
  /** "host:port" of the NameServer, or an API object: the consumer talks to the brokers itself. */
  nameServer?: string | NameServerApi;
  /** The gateway's base URL instead: every call goes through its HTTP API. */
  gateway?: string;
  /** How long a route is served before it is refreshed (30 s); direct only. */
  routeTtlMs?: number;
  /** Where failed calls are reported (warn); silent by default. */
  logger?: Logger;
  /** Tests and embedders: a backend of their own instead of `nameServer` / `gateway`. */
  backend?: ConsumeBackend;
  /** Direct only: how this client reaches the brokers: 'remoting' (default: frames on one persistent connection per broker, HTTP where a broker refuses) or 'http' (HTTP/1.1 only). */
  transport?: BrokerTransportKind;
}

export interface SimpleConsumerOptions extends ConsumerConnection {
  group: string;
  /** Topic -> tag filter expression (`TagA || TagB`, `*`). */
  subscriptions?: Record<string, string>;
  /** Topics read with no filter (same as `*`). */
  topics?: string[];
  /** Long polling, ms: how long a receive that finds nothing waits (default 20 s, at most 20 s). */
  awaitDuration?: number;
  /** A received message's lease, ms (default 30 s). */
  invisibleDuration?: number;
}

const SimpleConsumerDefaults = { AWAIT_DURATION_MS: 20_000, INVISIBLE_DURATION_MS: 30_000 } as const;

export class SimpleConsumer {
  readonly group: string;
  private readonly backend: ConsumeBackend;
  private readonly subscriptions: [topic: string, filter: string | undefined][];
  private readonly awaitMs: number;
  private readonly invisibleMs: number;
  private nextTopic = 0;
  private closed = false;

  constructor(options: SimpleConsumerOptions) {
    this.group = validateGroup(options.group);
    const subs: Record<string, string | undefined> = { ...options.subscriptions };
    for (const t of options.topics ?? []) subs[t] ??= undefined;
    this.subscriptions = Object.entries(subs).map(([t, f]) => [validateTopic(t), f === '*' ? undefined : f]);
    if (this.subscriptions.length === 0) throw new CirrusError('INVALID_PARAMETER', 'a consumer needs at least one topic (subscriptions or topics)');
    this.awaitMs = checkRange('awaitDuration', options.awaitDuration ?? SimpleConsumerDefaults.AWAIT_DURATION_MS, 0, ConsumeLimits.MAX_WAIT_MS);
    this.invisibleMs = checkInvisible(options.invisibleDuration ?? SimpleConsumerDefaults.INVISIBLE_DURATION_MS);
    this.backend = createBackend(options);
  }

  /**
   * Leases up to `max` messages (1..32) for `invisibleDuration` ms, waiting up to
   * awaitDuration when none is there; an empty list after the wait. With several topics,
   * each is asked in turn without waiting and the last one asked is long-polled.
   */
  async receive(max: number = ConsumeLimits.MAX_RECEIVE, invisibleDuration?: number): Promise<MessageView[]> {
    if (this.closed) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the consumer is closed');
    checkRange('max', max, 1, ConsumeLimits.MAX_RECEIVE);
    const invisibleMs = invisibleDuration === undefined ? this.invisibleMs : checkInvisible(invisibleDuration);
    const n = this.subscriptions.length;
    const start = this.nextTopic++ % n;
    for (let i = 0; i < n; i++) {
      const [topic, filter] = this.subscriptions[(start + i) % n]!;
      const waitMs = i === n - 1 ? this.awaitMs : 0;
      const messages = await this.backend.receive({ topic, group: this.group, max, invisibleMs, waitMs, filter });
      if (messages.length > 0) return messages;
    }
    return [];
  }

  /** Ends the message's lease; throws RECEIPT_HANDLE_EXPIRED when it had already ended. */
  async ack(message: MessageView): Promise<void> {
    const [err] = await this.backend.ack(this.group, [message]);
    if (err) throw err;
  }

  /** Acks several messages in as few requests as possible; one error (or null) per message, in order. */
  ackAll(messages: readonly MessageView[]): Promise<(CirrusError | null)[]> {
    return messages.length === 0 ? Promise.resolve([]) : this.backend.ack(this.group, messages);
  }

  /** Moves the lease's end to now + `duration` ms; the message carries the new receipt handle afterwards. */
  async changeInvisibleDuration(message: MessageView, duration: number): Promise<void> {
    message.receiptHandle = await this.backend.changeInvisibility(this.group, message, checkInvisible(duration));
  }

  /**
   * Hands messages back without handling them: they are deliverable again at once and the
   * delivery does not count as an attempt, on the direct path and through the gateway alike.
   */
  release(messages: readonly MessageView[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.backend.release(this.group, messages);
  }

  /** The group's settings, when the backend can tell (the NameServer or the gateway). */
  groupConfig() {
    return this.backend.groupConfig(this.group);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.backend.close();
  }
}

/** The backend that `options` name: exactly one of backend, gateway, nameServer. */
function createBackend(options: ConsumerConnection): ConsumeBackend {
  const given = [options.backend, options.gateway, options.nameServer].filter((x) => x !== undefined).length;
  if (given !== 1) throw new CirrusError('INVALID_PARAMETER', 'a consumer needs exactly one of nameServer or gateway');
  if (options.backend) return options.backend;
  if (options.gateway) return new GatewayConsumeBackend(new GatewayClient(options.gateway, { maxSockets: 16 }));
  const owns = typeof options.nameServer === 'string';
  const nameServer = typeof options.nameServer === 'string' ? new NameServerClient(options.nameServer) : options.nameServer!;
  const backend = new BrokerConsumeBackend({
    nameServer,
    routes: new RouteCache(nameServer, { ttlMs: options.routeTtlMs }),
    logger: options.logger ?? silentLogger,
    transport: options.transport,
  });
  if (!owns) return backend;
  const close = backend.close.bind(backend);
  backend.close = () => {
    close();
    (nameServer as NameServerClient).close();
  };
  return backend;
}

function checkInvisible(ms: number): number {
  return checkRange('invisibleDuration', ms, ConsumeLimits.MIN_INVISIBLE_MS, ConsumeLimits.MAX_INVISIBLE_MS);
}

function checkRange(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new CirrusError('INVALID_PARAMETER', `${name} must be an integer from ${min} to ${max}`);
  return v;
}
