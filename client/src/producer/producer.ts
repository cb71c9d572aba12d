/**
 * The direct-to-broker producer (RocketMQ's DefaultMQProducer): routes come from the
 * NameServer through the RouteCache, a batch goes to one queue in one request, and a failed
 * send is retried up to `retryTimesWhenSendFailed` times on another broker.
 */
import { BrokerClients } from '../api/broker-client.js';
import type { BrokerTransportKind } from '../remoting/broker-transport.js';
import { NameServerClient, type NameServerApi } from '../api/nameserver-client.js';
import type { Durability } from '../api/types.js';
import { preparedBodyLength, type PreparedMessage } from '../codec/send-batch.js';
import { CirrusError, toCirrusError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Message, MessageQueue, SendResult } from '../message.js';
import { BrokerFaultTolerance } from '../route/broker-fault-tolerance.js';
import { RouteCache } from '../route/route-cache.js';
import type { TopicPublishInfo } from '../route/topic-publish-info.js';
import { Limits, validateUserTopic } from '../validation.js';
import { DEFAULT_COMPRESS_OVER_BYTES, prepareMessage } from './prepare-message.js';
import { ProduceAccumulator } from './produce-accumulator.js';
import { selectQueueByHash } from './select-queue-by-hash.js';
import { type SendGroup, sendGroupsOf } from './send-groups.js';
import { sendBatchBody } from './timer-form.js';

export interface ProducerOptions {
  /** "host:port" of the NameServer, or an API object (tests, the gateway). */
  nameServer: string | NameServerApi;
  /** RocketMQ's default: 2 more attempts after the first. */
  retryTimesWhenSendFailed?: number;
  /** Budget for one send, all attempts included (RocketMQ's sendMsgTimeout, 3 s). */
  sendTimeoutMs?: number;
  /** Bodies larger than this are deflated (RocketMQ's compressMsgBodyOverHowmuch, 4 KiB). */
  compressOverBytes?: number;
  /** How long a route is served before it is refreshed (30 s). */
  routeTtlMs?: number;
  /**
   * A route cache to share (the gateway's: its reads, lookups and topic admin use the same
   * routes, and invalidate them after a create or delete); one of its own when unset.
   */
  routes?: RouteCache;
  /** How long a broker that refused a send is avoided (10 s). */
  brokerIsolationMs?: number;
  maxSocketsPerBroker?: number;
  /** How this client reaches the brokers: 'remoting' (default: frames on one persistent connection per broker, HTTP where a broker refuses) or 'http' (HTTP/1.1 only). */
  transport?: BrokerTransportKind;
  /**
   * Busy producers merge waiting batches of a topic into one request (RocketMQ 5's
   * autoBatch). Off by default, as in RocketMQ; the gateway turns it on.
   */
  autoBatch?: boolean;
  /** With autoBatch: requests of one topic in flight before batches start to wait (4). */
  maxInflightPerTopic?: number;
  /** Where retries are reported (warn); silent by default. */
  logger?: Logger;
  /**
   * The ack each send asks for: 'async' = after the broker's write, even on a broker that
   * acks after fdatasync or S3 (for sends that can afford to lose the last moments of a
   * lost broker); 'sync' / 's3' = insist on that level (a broker at another level refuses
   * with INVALID_PARAMETER). Unset: the broker's own level.
   */
  durability?: Durability;
}

/** A message that could not be sent, in a per-message result list. */
export interface SendFailure {
  status: 'FAILED';
  error: CirrusError;
}

export type SendOutcome = SendResult | SendFailure;

/** Messages checked and encoded for one topic, grouped by sharding key (undefined = none). */
export interface PreparedBatch {
  topic: string;
  prepared: PreparedMessage[];
  /** Which messages travel together (sendGroupsOf). */
  groups: SendGroup[];
}

export class Producer {
  readonly nameServer: NameServerApi;
  readonly routes: RouteCache;
  private readonly ownsNameServer: boolean;
  private readonly brokers: BrokerClients;
  private readonly faults: BrokerFaultTolerance;
  private readonly retries: number;
  private readonly sendTimeoutMs: number;
  private readonly compressOverBytes: number;
  private readonly logger: Logger;
  private readonly accumulator?: ProduceAccumulator;
  private readonly durability: ProducerOptions['durability'];

  constructor(options: ProducerOptions) {
    this.ownsNameServer = typeof options.nameServer === 'string';
    this.nameServer = typeof options.nameServer === 'string' ? new NameServerClient(options.nameServer) : options.nameServer;
    this.routes = options.routes ?? new RouteCache(this.nameServer, { ttlMs: options.routeTtlMs });
    this.brokers = new BrokerClients({ maxSockets: options.maxSocketsPerBroker ?? 64, transport: options.transport });
    this.faults = new BrokerFaultTolerance(options.brokerIsolationMs ?? 10_000);
    this.retries = options.retryTimesWhenSendFailed ?? 2;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 3_000;
    this.compressOverBytes = options.compressOverBytes ?? DEFAULT_COMPRESS_OVER_BYTES;
    this.logger = options.logger ?? silentLogger;
    this.durability = options.durability;
    if (options.autoBatch) {
      this.accumulator = new ProduceAccumulator((topic, prepared) => this.sendRoundRobin(topic, prepared), options.maxInflightPerTopic ?? 4);
    }
  }

  /** Sends one message and waits for the broker's answer. */
  async send(msg: Message): Promise<SendResult> {
    const [result] = await this.sendBatch([msg]);
    return result!;
  }

  /** Sends and calls back, RocketMQ's send(msg, SendCallback). */
  sendAsync(msg: Message, callback: (err: CirrusError | null, result?: SendResult) => void): void {
    this.send(msg).then(
      (r) => callback(null, r),
      (e) => callback(toCirrusError(e)),
    );
  }

  /** Fire and forget: no answer, no retry reported (RocketMQ's sendOneway). */
  sendOneway(msg: Message): void {
    this.send(msg).catch(() => {});
  }

  /**
   * Sends messages of one topic as one batch into one queue, or throws: RocketMQ's batch
   * send. Messages with a sharding key go to their hashed queue instead (all must share it).
   */
  async sendBatch(messages: readonly Message[]): Promise<SendResult[]> {
    const topic = batchTopic(messages);
    const prepared = this.prepareAll(topic, messages);
    const key = messages[0]!.shardingKey;
    return key === undefined ? this.sendToSomeQueue(topic, prepared) : this.sendToHashedQueue(topic, key, prepared);
  }

  /** One result per message, in order: `prepareBatch` then `sendPrepared`. */
  async sendMessages(topic: string, messages: readonly Message[]): Promise<SendOutcome[]> {
    return this.sendPrepared(this.prepareBatch(topic, messages));
  }

  /**
   * Validates and encodes messages for `sendPrepared`; throws on bad input before anything is
   * sent, so a caller can answer 400 (or accept a oneway request) without waiting on a broker.
   */
  prepareBatch(topic: string, messages: readonly Message[]): PreparedBatch {
    const prepared = this.prepareAll(topic, messages);
    return { topic, prepared, groups: sendGroupsOf(messages) };
  }

  /**
   * The gateway's call. Messages without a sharding key travel as one batch to one
   * round-robin queue; each sharding key's messages travel to their hashed queue, in order.
   * An unknown topic or one without a live broker throws before anything is sent; so does a
   * batch of which no message could be sent. A partial failure is reported per message.
   */
  async sendPrepared(batch: PreparedBatch): Promise<SendOutcome[]> {
    const { topic, prepared, groups } = batch;
    await this.publishInfo(topic);
    if (groups.length === 1 && groups[0]!.shardingKey === undefined && groups[0]!.indexes.length === prepared.length) {
      // The common case, one group without a sharding key: its results are the outcomes, and
      // its failure (nothing sent) is the request's error.
      try {
        return await this.sendToSomeQueue(topic, prepared);
      } catch (e) {
        throw toCirrusError(e);
      }
    }
    const outcomes: SendOutcome[] = new Array(prepared.length);
    await Promise.all(
      groups.map(async ({ shardingKey: key, indexes }) => {
        const part = indexes.length === prepared.length ? prepared : indexes.map((i) => prepared[i]!);
        try {
          const results = key === undefined ? await this.sendToSomeQueue(topic, part) : await this.sendToHashedQueue(topic, key, part);
          indexes.forEach((i, j) => (outcomes[i] = results[j]!));
        } catch (e) {
          const error = toCirrusError(e);
          for (const i of indexes) outcomes[i] = { status: 'FAILED', error };
        }
      }),
    );
    // Nothing sent is a failed request, not a list of failures: the caller gets the error
    // (503 with a retriable code when no broker took the messages).
    if (outcomes.every((o) => o.status === 'FAILED')) throw (outcomes[0] as SendFailure).error;
    return outcomes;
  }

  /**
   * The route a send to `topic` would take, from the route cache (the NameServer on a miss):
   * throws TOPIC_NOT_FOUND, or NO_ROUTE when no broker of it is alive. The gateway checks
   * this before it accepts a oneway send.
   */
  resolveRoute(topic: string): Promise<TopicPublishInfo> {
    return this.publishInfo(topic);
  }

  /** The NameServer calls this producer has made, for benchmarks and tests. */
  get nameServerCalls(): number {
    return this.nameServer.calls ?? 0;
  }

  shutdown(): void {
    this.brokers.close();
    if (this.ownsNameServer) (this.nameServer as NameServerClient).close();
  }

  /** The topic is checked once here, for the whole batch; each message must carry it. */
  private prepareAll(topic: string, messages: readonly Message[]): PreparedMessage[] {
    validateUserTopic(topic);
    if (messages.length === 0) throw new CirrusError('EMPTY_BATCH', 'no messages to send');
    if (messages.length > Limits.MAX_BATCH_MESSAGES) {
      throw new CirrusError('TOO_MANY_MESSAGES', `at most ${Limits.MAX_BATCH_MESSAGES} messages in one batch`);
    }
    const now = Date.now();
    let bytes = 0;
    const prepared: PreparedMessage[] = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      let p: PreparedMessage;
      const m = messages[i]!;
      if (m.topic !== topic) throw new CirrusError('INVALID_MESSAGE', 'a batch holds messages of one topic only');
      try {
        p = prepareMessage(m, this.compressOverBytes, now, true);
      } catch (e) {
        if (e instanceof CirrusError && messages.length > 1) throw new CirrusError(e.code, `messages[${i}]: ${e.message}`);
        throw e;
      }
      bytes += preparedBodyLength(p) + p.propertiesLength;
      prepared[i] = p;
    }
    if (bytes > Limits.MAX_SEND_REQUEST_BYTES - 128 * messages.length) {
      throw new CirrusError('PAYLOAD_TOO_LARGE', 'the batch is larger than a broker takes in one request');
    }
    return prepared;
  }

  private async publishInfo(topic: string): Promise<TopicPublishInfo> {
    let info = await this.routes.get(topic);
    // An empty route may be stale: ask again (rate-limited by the cache) before giving up.
    if (!info.ok()) info = await this.routes.refresh(topic);
    if (!info.ok()) throw new CirrusError('NO_ROUTE', `topic ${topic} has no live broker to write to`);
    return info;
  }

  private sendToSomeQueue(topic: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    // Half messages (markHalfMessages) travel unmerged: the broker stores them in its half queue, and a send's results are its first offset + i.
    const half = prepared[0]?.properties.includes('TRAN_MSG\u0001true') === true;
    return this.accumulator && !half ? this.accumulator.submit(topic, prepared) : this.sendRoundRobin(topic, prepared);
  }

  private sendRoundRobin(topic: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    return this.sendWithRetry(topic, prepared, (info, lastBrokerName) => info.selectOneMessageQueue(lastBrokerName, this.faults.isAvailable));
  }

  private async sendToHashedQueue(topic: string, key: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    // Order matters more than availability here: a retry goes to the same hashed queue.
    return this.sendWithRetry(topic, prepared, (info) => selectQueueByHash(info.messageQueueList, key));
  }

  private async sendWithRetry(
    topic: string,
    prepared: PreparedMessage[],
    select: (info: TopicPublishInfo, lastBrokerName?: string) => MessageQueue,
  ): Promise<SendResult[]> {
    const body = sendBatchBody(topic, prepared);
    const deadline = Date.now() + this.sendTimeoutMs;
    let info = await this.publishInfo(topic);
    let lastBrokerName: string | undefined;
    let lastError: CirrusError | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const mq = select(info, lastBrokerName);
      try {
        return await this.sendToQueue(info, mq, body, prepared, remaining);
      } catch (e) {
        lastError = toCirrusError(e);
        if (!lastError.retriable) throw lastError;
        this.logger.warn('send failed', { topic, broker: mq.brokerName, queueId: mq.queueId, attempt, code: lastError.code, err: lastError.message });
        lastBrokerName = mq.brokerName;
        this.faults.markFailed(mq.brokerName);
        info = await this.routes.refresh(topic).catch(() => info);
        if (!info.ok()) break;
      }
    }
    throw lastError ?? new CirrusError('TIMEOUT', `send to ${topic} ran out of its ${this.sendTimeoutMs} ms budget`);
  }

  private async sendToQueue(
    info: TopicPublishInfo,
    mq: MessageQueue,
    body: (queueId: number) => Buffer,
    prepared: PreparedMessage[],
    timeoutMs: number,
  ): Promise<SendResult[]> {
    const addr = info.brokerAddrs.get(mq.brokerName);
    if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `no address for broker ${mq.brokerName}`);
    const res = await this.brokers.get(addr).sendBatch(body(mq.queueId), timeoutMs, this.durability);
    this.faults.markOk(mq.brokerName);
    const results: SendResult[] = new Array(prepared.length);
    for (let i = 0; i < prepared.length; i++) {
      results[i] = { status: res.status, messageId: prepared[i]!.messageId, messageQueue: mq, queueOffset: res.queueOffset + i };
    }
    return results;
  }
}

function batchTopic(messages: readonly Message[]): string {
  const topic = messages[0]?.topic;
  if (topic === undefined) throw new CirrusError('EMPTY_BATCH', 'no messages to send');
  const key = messages[0]!.shardingKey;
  for (const m of messages) {
    if (m.topic !== topic) throw new CirrusError('INVALID_MESSAGE', 'a batch holds messages of one topic only');
    if (m.shardingKey !== key) throw new CirrusError('INVALID_MESSAGE', 'a batch holds messages of one sharding key only');
  }
  return topic;
}
