/**
 * RocketMQ's TransactionMQProducer: sends a half message (stored, invisible to consumers), runs
 * the local transaction, then commits or rolls back by what it answered. UNKNOWN leaves the
 * transaction to the broker's check-backs: this producer keeps a long poll open on every live
 * broker (GET /v1/transaction/checks) for its group, asks the listener's checkLocalTransaction
 * and sends the outcome, so a producer restarted after a crash resolves what its last run left.
 */
import type { ClusterBrokerInfo } from '../api/types.js';
import { BrokerClients } from '../api/broker-client.js';
import { CirrusError, toCirrusError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Message, SendResult } from '../message.js';
import { Limits, validateGroup } from '../validation.js';
import { type PreparedMessage, preparedBodyLength } from '../codec/send-batch.js';
import { ProduceAccumulator } from './produce-accumulator.js';
import { Producer, type ProducerOptions, type SendOutcome } from './producer.js';
import { TransactionEndSender } from './transaction-end-sender.js';
import { answerCheck, localResolution } from './transaction-listener-calls.js';
import { decodeTransactionId, encodeTransactionId, markHalfMessages, type TransactionResolution } from './transaction-id.js';

/** A half message as a check-back gives it. */
export interface TransactionCheckView {
  transactionId: string;
  messageId: string;
  topic: string;
  body: Buffer;
  tags?: string;
  keys: string[];
  properties: Record<string, string>;
  /** 1 at the first check-back. */
  checkTimes: number;
  bornTimestamp: number;
}

/** RocketMQ's TransactionListener. A callback that throws counts as UNKNOWN. */
export interface TransactionListener {
  executeLocalTransaction(msg: Message, arg: unknown, result: SendResult & { transactionId: string }): TransactionResolution | Promise<TransactionResolution>;
  checkLocalTransaction(check: TransactionCheckView): TransactionResolution | Promise<TransactionResolution>;
}

export interface TransactionProducerOptions extends ProducerOptions {
  producerGroup: string;
  listener: TransactionListener;
  /** How long one check-back long poll waits on a broker (20 s). */
  checkWaitMs?: number;
  /** How often the list of brokers polled is refreshed (10 s). */
  brokerRefreshMs?: number;
}

export interface TransactionSendResult extends SendResult {
  transactionId: string;
  /** What executeLocalTransaction answered (and so what was done: UNKNOWN waits for a check-back). */
  resolution: TransactionResolution;
}

export class TransactionProducer {
  readonly producer: Producer;
  readonly producerGroup: string;
  private readonly listener: TransactionListener;
  private readonly logger: Logger;
  private readonly checkWaitMs: number;
  private readonly brokerRefreshMs: number;
  /** Check-back polls park up to checkWaitMs: connections apart from the producer's sends. */
  private readonly brokers = new BrokerClients({ maxSockets: 8 });
  private readonly polling = new Map<string, { stop: boolean }>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly endSenders = new Map<string, TransactionEndSender>();
  /** Each broker's end sender by broker name, while the broker list it was found in is fresh: a commit then awaits nothing before its request. */
  private readonly endSenderByName = new Map<string, TransactionEndSender>();
  /** With autoBatch: concurrent half sends of a topic merged into one request, as the Producer merges plain ones. */
  private readonly halfAccumulator?: ProduceAccumulator;
  /** The half messages of this turn, per topic, until it ends (submitHalves). */
  private turnHalves: Map<string, TurnHalf[]> | undefined;
  /** base64url of each broker name, for its transaction ids. */
  private readonly txIdSuffix = new Map<string, string>();
  private cluster: { at: number; brokers: Promise<ClusterBrokerInfo[]> } | undefined;
  private running = false;
  /** Check-backs answered COMMIT or ROLLBACK (tests, metrics). */
  checksResolved = 0;

  constructor(options: TransactionProducerOptions) {
    this.producerGroup = validateGroup(options.producerGroup);
    this.listener = options.listener;
    this.logger = options.logger ?? silentLogger;
    this.checkWaitMs = options.checkWaitMs ?? 20_000;
    this.brokerRefreshMs = options.brokerRefreshMs ?? 10_000;
    this.producer = new Producer(options);
    if (options.autoBatch) {
      // The Producer sends half messages apart from plain ones (their results are half-queue offsets): merged here among themselves.
      this.halfAccumulator = new ProduceAccumulator((topic, prepared) => this.sendHalves(topic, prepared), options.maxInflightPerTopic ?? 4);
    }
  }

  /** Opens the check-back long polls. Sending works without it; check-backs need it. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.refreshBrokers();
    const tick = () => {
      this.refreshTimer = setTimeout(() => {
        this.refreshBrokers()
          .catch((e) => this.logger.warn('transaction producer: broker list refresh failed', { err: e }))
          .finally(() => this.running && tick());
      }, this.brokerRefreshMs);
      this.refreshTimer.unref();
    };
    tick();
  }

  /** Sends `msg` as a half message, runs the local transaction, and commits or rolls back as it answers. */
  async sendMessageInTransaction(msg: Message, arg?: unknown): Promise<TransactionSendResult> {
    const batch = this.producer.prepareBatch(msg.topic, [msg]);
    markHalfMessages(batch.prepared, this.producerGroup);
    const [outcome] =
      this.halfAccumulator && batch.groups[0]?.shardingKey === undefined
        ? await this.submitHalves(msg.topic, batch.prepared)
        : await this.producer.sendPrepared(batch);
    if (!outcome || outcome.status === 'FAILED') throw outcome?.error ?? new CirrusError('INTERNAL', 'no send result');
    const brokerName = outcome.messageQueue.brokerName;
    const transactionId = this.transactionIdOf(brokerName, outcome.messageId);
    const local = localResolution(this.listener, msg, arg, { ...outcome, transactionId }, this.logger);
    const resolution = typeof local === 'string' ? local : await local;
    // The broker and id as the send answered them: no decode of the transaction id.
    if (resolution === 'COMMIT' || resolution === 'ROLLBACK') await this.endAt(brokerName, outcome.messageId, resolution, transactionId);
    return { ...outcome, transactionId, resolution };
  }

  commit(transactionId: string): Promise<void> {
    return this.end(transactionId, 'COMMIT');
  }

  rollback(transactionId: string): Promise<void> {
    return this.end(transactionId, 'ROLLBACK');
  }

  shutdown(): void {
    this.running = false;
    clearTimeout(this.refreshTimer);
    for (const p of this.polling.values()) p.stop = true;
    this.polling.clear();
    this.brokers.close();
    this.endSenders.clear();
    this.endSenderByName.clear();
    this.producer.shutdown();
  }

  private async end(transactionId: string, resolution: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const { brokerName, messageId } = decodeTransactionId(transactionId);
    return this.endAt(brokerName, messageId, resolution, transactionId);
  }

  private endAt(brokerName: string, messageId: string, resolution: 'COMMIT' | 'ROLLBACK', transactionId: string): Promise<void> {
    const known = this.cluster && Date.now() - this.cluster.at <= this.brokerRefreshMs ? this.endSenderByName.get(brokerName) : undefined;
    return known ? known.end(messageId, resolution) : this.endAtLookup(brokerName, messageId, resolution, transactionId);
  }

  private async endAtLookup(brokerName: string, messageId: string, resolution: 'COMMIT' | 'ROLLBACK', transactionId: string): Promise<void> {
    const find = async (fresh: boolean) => (await this.masters(fresh)).find((b) => b.brokerName === brokerName);
    const broker = (await find(false)) ?? (await find(true));
    if (!broker) throw new CirrusError('BROKER_NOT_FOUND', `broker ${brokerName} of transaction ${transactionId} is not in the cluster`);
    let sender = this.endSenders.get(broker.addr);
    if (!sender) this.endSenders.set(broker.addr, (sender = new TransactionEndSender(this.brokers.get(broker.addr))));
    this.endSenderByName.set(brokerName, sender);
    await sender.end(messageId, resolution);
  }

  /** encodeTransactionId, with the broker's part computed once per broker. */
  private transactionIdOf(brokerName: string, messageId: string): string {
    let suffix = this.txIdSuffix.get(brokerName);
    if (suffix === undefined) {
      suffix = encodeTransactionId(brokerName, '');
      this.txIdSuffix.set(brokerName, suffix);
    }
    return messageId + suffix;
  }

  /**
   * With autoBatch: the half messages of one event-loop turn (senders answered together send
   * together) go to the accumulator as one submission per topic. Its requests in flight would
   * otherwise take the first few one by one: with the commit round trip between a sender's
   * sends, they arrive spread out, and a request carried ~3 of them.
   */
  private submitHalves(topic: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    if (!this.turnHalves) {
      this.turnHalves = new Map();
      process.nextTick(this.flushTurnHalves);
    }
    let turn = this.turnHalves.get(topic);
    if (!turn) this.turnHalves.set(topic, (turn = []));
    const waiting = turn;
    return new Promise((resolve, reject) => waiting.push({ prepared, resolve, reject }));
  }

  private readonly flushTurnHalves = (): void => {
    const turns = this.turnHalves!;
    this.turnHalves = undefined;
    for (const [topic, all] of turns) for (const part of withinLimits(all)) this.submitTurnPart(topic, part);
  };

  private submitTurnPart(topic: string, waiting: TurnHalf[]): void {
    const all = waiting.length === 1 ? waiting[0]!.prepared : waiting.flatMap((w) => w.prepared);
    this.halfAccumulator!.submit(topic, all).then(
      (results) => {
        let at = 0;
        for (const w of waiting) {
          w.resolve(waiting.length === 1 ? results : results.slice(at, at + w.prepared.length));
          at += w.prepared.length;
        }
      },
      (e: unknown) => {
        for (const w of waiting) w.reject(e);
      },
    );
  }

  /** A merged send of half messages (one topic, no sharding key): one result per message, or the error of the whole. */
  private async sendHalves(topic: string, prepared: PreparedMessage[]): Promise<SendResult[]> {
    const outcomes: SendOutcome[] = await this.producer.sendPrepared({
      topic,
      prepared,
      groups: [{ shardingKey: undefined, indexes: prepared.map((_, i) => i) }],
    });
    return outcomes as SendResult[];
  }

  /** The live masters, from the NameServer at most every brokerRefreshMs (or when `fresh`): a commit costs no NameServer call. */
  private masters(fresh = false): Promise<ClusterBrokerInfo[]> {
    if (fresh || !this.cluster || Date.now() - this.cluster.at > this.brokerRefreshMs) {
      // A broker's address may change with the list: its sender is looked up again.
      this.endSenderByName.clear();
      const brokers = this.producer.nameServer.getCluster().then((all) => all.filter((b) => b.alive && b.brokerId === 0));
      this.cluster = { at: Date.now(), brokers };
      brokers.catch(() => (this.cluster = undefined));
    }
    return this.cluster.brokers;
  }

  private async refreshBrokers(): Promise<void> {
    if (!this.running) return;
    const addrs = new Set((await this.masters(true)).map((b) => b.addr));
    for (const [addr, p] of this.polling) {
      if (!addrs.has(addr)) {
        p.stop = true;
        this.polling.delete(addr);
      }
    }
    for (const addr of addrs) {
      if (this.polling.has(addr)) continue;
      const state = { stop: false };
      this.polling.set(addr, state);
      void this.pollLoop(addr, state);
    }
  }

  private async pollLoop(addr: string, state: { stop: boolean }): Promise<void> {
    while (!state.stop && this.running) {
      try {
        const checks = await this.brokers.get(addr).transactionChecks(this.producerGroup, this.checkWaitMs);
        for (const c of checks) await this.answerCheck(addr, { ...c, body: Buffer.from(c.body, 'base64') });
      } catch (e) {
        if (state.stop || !this.running) return;
        this.logger.warn('transaction producer: check-back poll failed', { broker: addr, err: toCirrusError(e).message });
        await new Promise((r) => setTimeout(r, 1_000).unref());
      }
    }
  }

  private async answerCheck(addr: string, check: TransactionCheckView): Promise<void> {
    if (await answerCheck(this.listener, check, (resolution) => this.brokers.get(addr).endTransaction(check.messageId, resolution), this.logger)) {
      this.checksResolved++;
    }
  }
}

interface TurnHalf {
  prepared: PreparedMessage[];
  resolve: (r: SendResult[]) => void;
  reject: (e: unknown) => void;
}

/** A turn's half sends in parts that fit one request (a send batch's limits), in order. */
function withinLimits(all: TurnHalf[]): TurnHalf[][] {
  const parts: TurnHalf[][] = [];
  let part: TurnHalf[] = [];
  let messages = 0;
  let bytes = 0;
  for (const w of all) {
    let b = 0;
    for (const p of w.prepared) b += preparedBodyLength(p) + p.propertiesLength;
    if (part.length > 0 && (messages + w.prepared.length > Limits.MAX_BATCH_MESSAGES || bytes + b > Limits.MAX_BATCH_BYTES)) {
      parts.push(part);
      part = [];
      messages = 0;
      bytes = 0;
    }
    part.push(w);
    messages += w.prepared.length;
    bytes += b;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}
