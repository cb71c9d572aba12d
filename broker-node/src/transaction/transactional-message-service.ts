/**
 * TransactionalMessageService (RocketMQ's TransactionalMessageServiceImpl), with one change: the
 * state of half messages is a table of pending transactions in memory (pending-transactions.ts),
 * not a re-append of the half message at every check (RocketMQ's putBackHalfMsgQueue).
 *
 *   put      half records go under rmq_sys_trans_half_topic (half-message.ts): durable, tiered
 *   commit   the half record is appended again to its real queue, then a COMMIT op record
 *   rollback a ROLLBACK op record only (both batched per turn: end-batcher.ts)
 *   check    transactional-message-check-service.ts: check URLs and SDK producers' long polls
 *   recover  transaction-recovery.ts: the op topic (ends, check URLs), then the half topic
 *
 * Retention keeps every segment from the oldest pending half record on (retentionHold), so a
 * pending transaction's record outlives the 72 h file reservation; the op records after it too.
 */
import { type BrokerTransactionCheck, CirrusError, encodeTransactionId, type Logger, type SendBatch } from '@cirrusmq/client/protocol';
import type { MessageStore, PutMessageResult, PutOptions } from '../store/message-store-types';
import { batchOf } from '../timer/timer-record';
import { EndBatcher } from './end-batcher';
import { HalfPutBatcher } from './half-put-batcher';
import { committedRecord, HALF_TOPIC, type HalfRecord, readHalfAt } from './half-message';
import { type DivertedHalves, divertHalfMessages } from './half-message-divert';
import { OP_TOPIC, type OpKind, opMessage } from './op-message';
import { type EndAction, type PendingTransaction, PendingTransactions } from './pending-transactions';
import { newTransactionCounters, transactionMetricsText } from './transaction-metrics';
import { recoverTransactions } from './transaction-recovery';
import { TransactionalMessageCheckService } from './transactional-message-check-service';

export type TransactionBackingStore = Pick<MessageStore, 'putMessages' | 'getMessage' | 'getMaxOffsetInQueue' | 'getMinOffsetInQueue'> & {
  /** Several queues' records in one CommitLog write (DefaultMessageStore.putMessagesOfQueues): a flush of ends. */
  putMessagesOfQueues(batch: SendBatch, queues: readonly { topic: string; queueId: number; count: number }[]): Promise<PutMessageResult[]>;
  readCommitLog(offset: number, size: number): Promise<Buffer | undefined>;
};

export interface TransactionConfig {
  brokerName: string;
  /** RocketMQ's transactionTimeOut: the first check this long after the half message is stored (6 s). */
  checkFirstMs: number;
  /** RocketMQ's transactionCheckInterval (30 s). */
  checkIntervalMs: number;
  /** RocketMQ's transactionCheckMax (15): then rolled back. */
  checkMax: number;
  /** A check URL answering later than this counts as UNKNOWN. */
  checkUrlTimeoutMs: number;
  /** A check URL must start with one of these (empty or absent: any http(s) URL). */
  checkUrlPrefixes?: readonly string[];
  /** A check URL's record is appended again this often, so retention never deletes the last one (24 h). */
  groupRefreshMs?: number;
  now?: () => number;
}

export interface EndResult {
  transactionId: string;
  messageId: string;
  resolution: EndAction;
  topic: string;
  queueId: number;
  /** The committed message's offset in its queue. */
  queueOffset?: number;
}

export class TransactionalMessageService {
  private readonly pending = new PendingTransactions();
  /** encodeTransactionId(brokerName, '') : an id is the message id and this. */
  private readonly transactionIdSuffix: string;
  private readonly now: () => number;
  private readonly checks: TransactionalMessageCheckService;
  private readonly ends: EndBatcher<PendingTransaction>;
  private readonly halfPuts: HalfPutBatcher;
  private recovered = false;
  readonly counters = newTransactionCounters();

  constructor(
    private readonly store: TransactionBackingStore,
    private readonly config: TransactionConfig,
    private readonly logger: Logger,
  ) {
    this.now = config.now ?? Date.now;
    this.transactionIdSuffix = encodeTransactionId(config.brokerName, '');
    this.ends = new EndBatcher<PendingTransaction>(
      (b, queues) => this.store.putMessagesOfQueues(b, queues),
      (p) => this.committedOf(p),
      this.now,
    );
    this.halfPuts = new HalfPutBatcher(
      (b, options) => this.store.putMessages(b, options),
      async (queueOffset, count) => (await this.store.getMessage(HALF_TOPIC, 0, queueOffset, count)).records,
    );
    this.checks = new TransactionalMessageCheckService({
      pending: this.pending,
      config,
      counters: this.counters,
      logger,
      now: this.now,
      end: (messageId, action) => this.end(messageId, action),
      readHalf: (p) => this.readHalf(p),
      putOp: (kind, key, body) => this.putOp(kind, key, body),
    });
  }

  /** Stores a send batch whose records may be half messages: those under the half topic, the rest through `next` (the timer hook, the store). */
  async putMessages(batch: SendBatch, options: PutOptions | undefined, next: (b: SendBatch) => Promise<PutMessageResult>): Promise<PutMessageResult> {
    const diverted = divertHalfMessages(batch);
    if (!diverted) return next(batch);
    if (!this.recovered) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the transaction table is recovering');
    for (const h of diverted.halves) {
      if (!h.producerGroup) throw new CirrusError('INVALID_MESSAGE', 'a transactional message needs its producer group (PGROUP)');
    }
    if (!diverted.normal) {
      // All half messages (a transactional producer's send): merged with the other sends of this turn into one append.
      const { put, offsets } = await this.halfPuts.submit(diverted.half, options);
      this.addPending(batch, diverted, offsets);
      return put;
    }
    // Both appends happen in this turn; the half messages enter the table once stored, whatever becomes of the plain ones.
    const [plain, half] = await Promise.all([
      next(diverted.normal),
      this.halfPuts.submit(diverted.half, options).then(({ put, offsets }) => {
        this.addPending(batch, diverted, offsets);
        return put;
      }),
    ]);
    return { ...plain, count: batch.records.length, status: plain.status !== 'PUT_OK' ? plain.status : half.status };
  }

  private addPending(batch: SendBatch, diverted: DivertedHalves, offsets: readonly number[]): void {
    const storedMs = this.now();
    const queueKey = `${batch.topic}\u0000${batch.queueId}`;
    for (let i = 0; i < diverted.halves.length; i++) {
      const h = diverted.halves[i]!;
      this.pending.add({
        messageId: h.messageId,
        realTopic: batch.topic,
        realQueueId: batch.queueId,
        producerGroup: h.producerGroup,
        offsetPy: offsets[i]!,
        size: diverted.half.records[i]!.shape.size,
        storedMs,
        checks: 0,
        nextCheckMs: storedMs + this.config.checkFirstMs,
        queueKey,
        committed: diverted.committed[i]!,
      });
    }
    this.counters.halfPut += diverted.halves.length;
    this.pending.trimKeptRecords();
  }

  /** Commit or rollback (RocketMQ's EndTransactionProcessor). TRANSACTION_NOT_FOUND / TRANSACTION_ALREADY_ENDED otherwise. */
  async end(messageId: string, action: EndAction): Promise<EndResult> {
    if (!this.recovered) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the transaction table is recovering');
    const p = this.pending.get(messageId);
    const transactionId = messageId + this.transactionIdSuffix;
    if (!p) {
      const done = this.pending.endedAs(messageId);
      if (done) {
        throw new CirrusError('TRANSACTION_ALREADY_ENDED', `transaction ${transactionId} was ${done === 'COMMIT' ? 'committed' : 'rolled back'} already`, {
          details: { resolution: done },
        });
      }
      throw new CirrusError('TRANSACTION_NOT_FOUND', `no transaction ${transactionId} on broker ${this.config.brokerName}`);
    }
    // Out of the table before the first await: a second end (a client's and a check's at once) is a 409.
    this.pending.end(p, action);
    this.checks.cancel(p);
    try {
      // The message first, then its end, batched with the other ends of this turn (end-batcher.ts).
      const queueOffset = await this.ends.submit(p, action);
      if (action === 'COMMIT') this.counters.committed++;
      else this.counters.rolledBack++;
      return { transactionId, messageId, resolution: action, topic: p.realTopic, queueId: p.realQueueId, queueOffset };
    } catch (e) {
      this.pending.restore(p);
      throw e;
    }
  }

  /** Registers (or with null clears) a producer group's check URL; kept as an op record, so it survives a crash and a restore. */
  registerGroup(group: string, checkUrl: string | null): Promise<void> {
    return this.checks.registerGroup(group, checkUrl);
  }

  /** Registrations of groups unknown here, from a peer broker (producer-group-sync.ts); the groups taken. */
  adoptGroups(records: readonly { group: string; checkUrl: string | null }[]): Promise<string[]> {
    return this.checks.adoptGroups(records);
  }

  /** Every producer group registered here, with its check URL (null: SDK producers long-poll). */
  producerGroups(): { group: string; checkUrl: string | null }[] {
    return [...this.checks.groups].map(([group, r]) => ({ group, checkUrl: r.checkUrl }));
  }

  checkUrlOf(group: string): string | null {
    return this.checks.checkUrlOf(group);
  }

  /** Long poll of an SDK producer: the checks due for its group, waiting up to waitMs for one. */
  takeChecks(group: string, waitMs: number, max: number, signal?: AbortSignal): Promise<BrokerTransactionCheck[]> {
    return this.checks.takeChecks(group, waitMs, max, signal);
  }

  /** Long polls parked now, per group (tests wait for one). */
  parkedPolls(): number {
    return this.checks.parkedPolls();
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /** The CommitLog offset retention must not delete past: the oldest pending half record (everything before recovery). */
  retentionHold(): number {
    return this.recovered ? this.pending.oldestOffset() : 0;
  }

  /** Rebuilds the table from the op and half topics (transaction-recovery.ts), then takes sends and ends. */
  async recover(): Promise<void> {
    await recoverTransactions(this.store, this.config, this.now, this.pending, this.checks.groups, this.logger);
    this.recovered = true;
    this.logger.info('transactions recovered', { pending: this.pending.size, ended: this.pending.endedCount(), groups: this.checks.groups.size });
  }

  start(): void {
    this.checks.start();
  }

  close(): Promise<void> {
    return this.checks.close();
  }

  /** Prometheus text for the broker's /metrics. */
  metricsText(brokerName: string): string {
    return transactionMetricsText(brokerName, this.counters, this.pending.size);
  }

  /** One pass of the check service (tests drive it on their clock). */
  checkPass(): Promise<void> {
    return this.checks.checkPass();
  }

  /** The record a commit appends: from the recent sends when there (no read, no encode), else from its half record. */
  private committedOf(p: PendingTransaction): Buffer | Promise<Buffer | undefined> {
    return this.pending.takeCommitted(p) ?? this.readHalf(p).then((r) => r && committedRecord(r));
  }

  private readHalf(p: PendingTransaction): Promise<HalfRecord | undefined> {
    return readHalfAt((offset, size) => this.store.readCommitLog(offset, size), p);
  }

  private async putOp(kind: OpKind, key: string, body: string): Promise<void> {
    await this.store.putMessages(batchOf(OP_TOPIC, 0, [opMessage(kind, key, body, this.now())]));
  }
}
