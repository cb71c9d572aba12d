/**
 * TransactionalMessageService (RocketMQ's TransactionalMessageServiceImpl + CheckService), with
 * one change: the state of half messages is a table of pending transactions in memory, not a
 * re-append of the half message at every check (RocketMQ's putBackHalfMsgQueue).
 *
 *   put      half records go under rmq_sys_trans_half_topic (half-message.ts): durable, tiered
 *   commit   the half record is appended again to its real queue, then a COMMIT op record
 *   rollback a ROLLBACK op record only
 *   check    every pending transaction is checked back with its producer group first after
 *            checkFirstMs, then every checkIntervalMs; after checkMax checks it is rolled back
 *            and logged. A group with a check URL is called (check-url-caller.ts); otherwise the
 *            check waits in the group's outbox for a long poll (takeChecks) of an SDK producer.
 *   recover  the op topic (ends, check URLs), then the half topic: a half record without an end
 *            is pending again. Its check count follows from its age, so none is persisted.
 *
 * Retention keeps every segment from the oldest pending half record on (retentionHold), so a
 * pending transaction's record outlives the 72 h file reservation; the op records after it too.
 */
import {
  type BrokerTransactionCheck,
  CirrusError,
  decodeRecord,
  encodeTransactionId,
  type Logger,
  MessageConst,
  readRecordShape,
  type SendBatch,
} from '@cirrusmq/client/protocol';
import { PeriodicService } from '../periodic-service';
import type { MessageStore, PutMessageResult, PutOptions } from '../store/message-store-types';
import { batchOf } from '../timer/timer-record';
import { type CheckUnknownReason, callCheckUrl } from './check-url-caller';
import { EndBatcher } from './end-batcher';
import { HalfPutBatcher } from './half-put-batcher';
import {
  committedRecord,
  type DivertedHalves,
  divertHalfMessages,
  HALF_TOPIC,
  type HalfRecord,
  OP_TOPIC,
  type OpKind,
  opMessage,
  readHalfRecord,
  readOpRecord,
} from './half-message';

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

interface Pending {
  messageId: string;
  realTopic: string;
  realQueueId: number;
  producerGroup: string;
  offsetPy: number;
  size: number;
  storedMs: number;
  checks: number;
  nextCheckMs: number;
  /** `${realTopic}\u0000${realQueueId}`, one string for a whole send batch: the end batcher groups commits by it. */
  queueKey: string;
  /** The record a commit appends, kept from the send (divertHalfMessages' committed) while within RECENT_BYTES. */
  committed: Buffer | undefined;
}

export type EndAction = 'COMMIT' | 'ROLLBACK';

export interface EndResult {
  transactionId: string;
  messageId: string;
  resolution: EndAction;
  topic: string;
  queueId: number;
  /** The committed message's offset in its queue. */
  queueOffset?: number;
}

/** Ended ids remembered for a 409: the newest ENDED_KEPT / 2 at least, ENDED_KEPT at most (older ones forgotten: then a late commit is a 404). */
const ENDED_KEPT = 100_000;
const SCAN_BATCH = 256;
const RESERVED = new Set<string>(Object.values(MessageConst));
/** Committed forms of recent half messages kept in memory (Pending.committed), so the usual quick commit reads nothing back (32 MiB of bodies at most, oldest dropped first). */
const RECENT_BYTES = 32 * 1024 * 1024;
/** Check URL calls in flight at once. */
const MAX_CHECK_CALLS = 64;

export class TransactionalMessageService {
  private readonly pending = new Map<string, Pending>();
  /**
   * Ended ids in two generations: the newest up to ENDED_KEPT / 2, then the ones before, dropped
   * whole when the newest is full. An end is one set on a Map that only grows: evicting the
   * oldest id one by one (a ring of ids and a delete per end) cost a delete on a 100,000-entry
   * table and its rehashes, ~3x the set alone (measured: 430-530 ns against 110-330 ns).
   */
  private ended = new Map<string, EndAction>();
  private endedBefore = new Map<string, EndAction>();
  private readonly groups = new Map<string, { checkUrl: string | null; storedMs: number }>();
  /** Checks due for SDK producers, per group, until a long poll takes them or the transaction ends. */
  private readonly outbox = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly checking = new Set<string>();
  /** encodeTransactionId(brokerName, '') : an id is the message id and this. */
  private readonly transactionIdSuffix: string;
  private recentBytes = 0;
  private readonly now: () => number;
  private readonly loop: PeriodicService;
  private readonly ends: EndBatcher<Pending>;
  private readonly halfPuts: HalfPutBatcher;
  private recovered = false;
  readonly counters = {
    halfPut: 0,
    committed: 0,
    rolledBack: 0,
    checks: 0,
    discarded: 0,
    checkUnknown: { unknown: 0, timeout: 0, garbage: 0, error: 0 } as Record<CheckUnknownReason, number>,
  };

  constructor(
    private readonly store: TransactionBackingStore,
    private readonly config: TransactionConfig,
    private readonly logger: Logger,
  ) {
    this.now = config.now ?? Date.now;
    this.transactionIdSuffix = encodeTransactionId(config.brokerName, '');
    const tick = Math.max(20, Math.min(1_000, Math.floor(Math.min(config.checkFirstMs, config.checkIntervalMs) / 4)));
    this.ends = new EndBatcher<Pending>(
      (b, queues) => this.store.putMessagesOfQueues(b, queues),
      (p) => this.committedOf(p),
      this.now,
    );
    this.halfPuts = new HalfPutBatcher(
      (b, options) => this.store.putMessages(b, options),
      async (queueOffset, count) => (await this.store.getMessage(HALF_TOPIC, 0, queueOffset, count)).records,
    );
    this.loop = new PeriodicService('TransactionalMessageCheckService', tick, () => this.checkPass(), logger);
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
      const size = diverted.half.records[i]!.shape.size;
      const h = diverted.halves[i]!;
      const committed = diverted.committed[i]!;
      // The same id sent again (a retried send): the bytes kept for the one it replaces are no longer kept.
      const before = this.pending.get(h.messageId)?.committed;
      if (before) this.recentBytes -= before.length;
      this.recentBytes += committed.length;
      this.pending.set(h.messageId, {
        messageId: h.messageId,
        realTopic: batch.topic,
        realQueueId: batch.queueId,
        producerGroup: h.producerGroup,
        offsetPy: offsets[i]!,
        size,
        storedMs,
        checks: 0,
        nextCheckMs: storedMs + this.config.checkFirstMs,
        queueKey,
        committed,
      });
    }
    this.counters.halfPut += diverted.halves.length;
    if (this.recentBytes > RECENT_BYTES) this.dropKeptRecords();
  }

  /** Commit or rollback (RocketMQ's EndTransactionProcessor). TRANSACTION_NOT_FOUND / TRANSACTION_ALREADY_ENDED otherwise. */
  async end(messageId: string, action: EndAction): Promise<EndResult> {
    if (!this.recovered) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the transaction table is recovering');
    const p = this.pending.get(messageId);
    const transactionId = messageId + this.transactionIdSuffix;
    if (!p) {
      const done = this.ended.get(messageId) ?? this.endedBefore.get(messageId);
      if (done) {
        throw new CirrusError('TRANSACTION_ALREADY_ENDED', `transaction ${transactionId} was ${done === 'COMMIT' ? 'committed' : 'rolled back'} already`, {
          details: { resolution: done },
        });
      }
      throw new CirrusError('TRANSACTION_NOT_FOUND', `no transaction ${transactionId} on broker ${this.config.brokerName}`);
    }
    // Out of the table before the first await: a second end (a client's and a check's at once) is a 409.
    this.pending.delete(messageId);
    this.remember(messageId, action);
    if (action === 'ROLLBACK') this.takeCommitted(p);
    this.outbox.get(p.producerGroup)?.delete(messageId);
    try {
      // The message first, then its end, batched with the other ends of this turn (end-batcher.ts).
      const queueOffset = await this.ends.submit(p, action);
      if (action === 'COMMIT') this.counters.committed++;
      else this.counters.rolledBack++;
      return { transactionId, messageId, resolution: action, topic: p.realTopic, queueId: p.realQueueId, queueOffset };
    } catch (e) {
      this.ended.delete(messageId);
      this.endedBefore.delete(messageId);
      this.pending.set(messageId, p);
      throw e;
    }
  }

  /** Registers (or with null clears) a producer group's check URL; kept as an op record, so it survives a crash and a restore. */
  async registerGroup(group: string, checkUrl: string | null): Promise<void> {
    const prefixes = this.config.checkUrlPrefixes ?? [];
    if (checkUrl !== null && prefixes.length > 0 && !prefixes.some((p) => checkUrl.startsWith(p))) {
      throw new CirrusError('INVALID_PARAMETER', `checkUrl must start with one of ${prefixes.join(', ')} (CIRRUSMQ_TRANSACTION_CHECK_URL_PREFIXES)`);
    }
    await this.putOp('GROUP', group, JSON.stringify({ checkUrl }));
    this.groups.set(group, { checkUrl, storedMs: this.now() });
  }

  checkUrlOf(group: string): string | null {
    return this.groups.get(group)?.checkUrl ?? null;
  }

  /** Long poll of an SDK producer: the checks due for its group, waiting up to waitMs for one. */
  async takeChecks(group: string, waitMs: number, max: number, signal?: AbortSignal): Promise<BrokerTransactionCheck[]> {
    if (!this.outbox.get(group)?.size && waitMs > 0) {
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(group);
        if (!set) this.waiters.set(group, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        signal?.addEventListener('abort', done);
        set.add(done);
      });
    }
    const ids = this.outbox.get(group);
    const out: BrokerTransactionCheck[] = [];
    if (!ids || signal?.aborted) return out;
    for (const id of [...ids].slice(0, max)) {
      ids.delete(id);
      const p = this.pending.get(id);
      const check = p && (await this.checkOf(p));
      if (check) out.push(check);
    }
    return out;
  }

  /** Long polls parked now, per group (tests wait for one). */
  parkedPolls(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /** The CommitLog offset retention must not delete past: the oldest pending half record (everything before recovery). */
  retentionHold(): number {
    if (!this.recovered) return 0;
    let min = Number.POSITIVE_INFINITY;
    for (const p of this.pending.values()) if (p.offsetPy < min) min = p.offsetPy;
    return min;
  }

  /** Rebuilds the table from the op and half topics, then starts the checks. */
  async recover(): Promise<void> {
    const groupRecords = new Map<string, { checkUrl: string | null; storedMs: number }>();
    // Every end still stored decides, not only the ENDED_KEPT newest remembered for 409s.
    const ended = new Set<string>();
    for await (const buf of this.scan(OP_TOPIC)) {
      const op = readOpRecord(buf);
      if (!op) continue;
      if (op.kind === 'GROUP') {
        try {
          const { checkUrl } = JSON.parse(op.body.toString('utf8')) as { checkUrl: string | null };
          groupRecords.set(op.key, { checkUrl, storedMs: op.storeTimestamp });
        } catch {
          this.logger.warn('transaction: a producer group record that is not JSON, skipped', { group: op.key });
        }
      } else {
        for (const id of op.ids) {
          ended.add(id);
          this.remember(id, op.kind);
        }
      }
    }
    for (const [g, v] of groupRecords) this.groups.set(g, v);
    const now = this.now();
    const { checkFirstMs: first, checkIntervalMs: interval, checkMax } = this.config;
    for await (const buf of this.scan(HALF_TOPIC)) {
      const r = readHalfRecord(buf);
      if (!r || ended.has(r.messageId)) continue;
      const firstAt = r.storeTimestamp + first;
      // The checks its age allows, less one made at once: missed checks are not replayed, nor counted twice.
      const passed = now < firstAt ? 0 : 1 + Math.floor((now - firstAt) / interval);
      this.pending.set(r.messageId, {
        messageId: r.messageId,
        realTopic: r.realTopic,
        realQueueId: r.realQueueId,
        producerGroup: r.producerGroup,
        offsetPy: r.offsetPy,
        size: r.size,
        storedMs: r.storeTimestamp,
        checks: Math.min(checkMax, Math.max(0, passed - 1)),
        nextCheckMs: passed === 0 ? firstAt : now,
        queueKey: `${r.realTopic}\u0000${r.realQueueId}`,
        committed: undefined,
      });
    }
    this.recovered = true;
    this.logger.info('transactions recovered', { pending: this.pending.size, ended: this.ended.size + this.endedBefore.size, groups: this.groups.size });
  }

  start(): void {
    this.loop.start();
  }

  async close(): Promise<void> {
    for (const set of this.waiters.values()) for (const done of [...set]) done();
    await this.loop.shutdown();
  }

  /** Prometheus text for the broker's /metrics. */
  metricsText(brokerName: string): string {
    const l = `broker="${brokerName}"`;
    const c = this.counters;
    const lines = [
      '# HELP cirrusmq_transaction_pending Half messages neither committed nor rolled back.',
      '# TYPE cirrusmq_transaction_pending gauge',
      `cirrusmq_transaction_pending{${l}} ${this.pending.size}`,
      '# HELP cirrusmq_transaction_half_messages_total Half messages stored.',
      '# TYPE cirrusmq_transaction_half_messages_total counter',
      `cirrusmq_transaction_half_messages_total{${l}} ${c.halfPut}`,
      '# HELP cirrusmq_transaction_ended_total Transactions ended, by resolution (rollbacks after the last check included).',
      '# TYPE cirrusmq_transaction_ended_total counter',
      `cirrusmq_transaction_ended_total{${l},resolution="commit"} ${c.committed}`,
      `cirrusmq_transaction_ended_total{${l},resolution="rollback"} ${c.rolledBack}`,
      '# HELP cirrusmq_transaction_checks_total Check-backs made (to a check URL or offered to a long poll).',
      '# TYPE cirrusmq_transaction_checks_total counter',
      `cirrusmq_transaction_checks_total{${l}} ${c.checks}`,
      '# HELP cirrusmq_transaction_discarded_total Transactions rolled back after their last check (checkMax).',
      '# TYPE cirrusmq_transaction_discarded_total counter',
      `cirrusmq_transaction_discarded_total{${l}} ${c.discarded}`,
      '# HELP cirrusmq_transaction_check_unknown_total Check URL answers taken as UNKNOWN, by reason (unknown: said so; timeout; garbage: not COMMIT/ROLLBACK/UNKNOWN; error: refused or an error status).',
      '# TYPE cirrusmq_transaction_check_unknown_total counter',
    ];
    for (const [reason, n] of Object.entries(c.checkUnknown)) lines.push(`cirrusmq_transaction_check_unknown_total{${l},reason="${reason}"} ${n}`);
    return lines.join('\n');
  }

  /** One pass of the check service: due transactions are checked, those past checkMax rolled back; old check URL records refreshed. */
  async checkPass(): Promise<void> {
    const now = this.now();
    const { checkIntervalMs, checkMax } = this.config;
    const discard: Pending[] = [];
    // The live iterator, not a copy: a pass over a large table allocates little. Nothing is awaited inside it.
    for (const p of this.pending.values()) {
      if (p.nextCheckMs > now || this.checking.has(p.messageId)) continue;
      if (p.checks >= checkMax) {
        discard.push(p);
        continue;
      }
      const url = this.groups.get(p.producerGroup)?.checkUrl;
      // A burst of due checks calls out a few at a time; the rest wait for a later pass, their count unchanged.
      if (url && this.checking.size >= MAX_CHECK_CALLS) continue;
      p.checks++;
      p.nextCheckMs = now + checkIntervalMs;
      this.counters.checks++;
      if (url) void this.callCheckUrl(p, url);
      else this.offer(p);
    }
    for (const p of discard) {
      this.logger.warn('transaction rolled back after its last check', {
        transactionId: encodeTransactionId(this.config.brokerName, p.messageId),
        producerGroup: p.producerGroup,
        topic: p.realTopic,
        checks: p.checks,
      });
      try {
        await this.end(p.messageId, 'ROLLBACK');
        this.counters.discarded++;
      } catch (e) {
        // Ended meanwhile by its producer, or the store refused: then the next pass tries again.
        if (!(e instanceof CirrusError && e.code === 'TRANSACTION_ALREADY_ENDED'))
          this.logger.error('transaction: rollback after the last check failed', { err: e });
      }
    }
    const refresh = this.config.groupRefreshMs ?? 86_400_000;
    for (const [group, g] of this.groups) if (now - g.storedMs >= refresh) await this.registerGroup(group, g.checkUrl);
  }

  private offer(p: Pending): void {
    let ids = this.outbox.get(p.producerGroup);
    if (!ids) this.outbox.set(p.producerGroup, (ids = new Set()));
    ids.add(p.messageId);
    for (const done of [...(this.waiters.get(p.producerGroup) ?? [])]) done();
  }

  private async callCheckUrl(p: Pending, url: string): Promise<void> {
    this.checking.add(p.messageId);
    try {
      const check = await this.checkOf(p);
      if (!check) return;
      const answer = await callCheckUrl(url, check, this.config.checkUrlTimeoutMs);
      if (answer.reason) {
        this.counters.checkUnknown[answer.reason]++;
        if (answer.reason !== 'unknown') this.logger.warn('transaction check URL gave no answer', { producerGroup: p.producerGroup, reason: answer.reason });
        return;
      }
      if (answer.resolution === 'COMMIT' || answer.resolution === 'ROLLBACK') await this.end(p.messageId, answer.resolution);
    } catch (e) {
      // Ended by its producer meanwhile: nothing left to do.
      if (!(e instanceof CirrusError && (e.code === 'TRANSACTION_ALREADY_ENDED' || e.code === 'TRANSACTION_NOT_FOUND')))
        this.logger.error('transaction check failed', { err: e });
    } finally {
      this.checking.delete(p.messageId);
    }
  }

  private async checkOf(p: Pending): Promise<BrokerTransactionCheck | undefined> {
    const r = await this.readHalf(p);
    if (!r) return undefined;
    const m = decodeRecord(r.buf, 0, r.shape);
    const properties: Record<string, string> = {};
    for (const k in m.properties) if (!RESERVED.has(k) && k !== MessageConst.TRANSACTION_ID) properties[k] = m.properties[k]!;
    return {
      transactionId: encodeTransactionId(this.config.brokerName, p.messageId),
      messageId: p.messageId,
      topic: p.realTopic,
      queueId: p.realQueueId,
      producerGroup: p.producerGroup,
      checkTimes: p.checks,
      bornTimestamp: m.bornTimestamp,
      storeTimestamp: m.storeTimestamp,
      body: m.body.toString('base64'),
      bodyEncoding: 'base64',
      tags: m.tags,
      keys: m.keys,
      properties,
    };
  }

  /** The record a commit appends: from the recent sends when there (no read, no encode), else from its half record. */
  private committedOf(p: Pending): Buffer | Promise<Buffer | undefined> {
    return this.takeCommitted(p) ?? this.readHalf(p).then((r) => r && committedRecord(r));
  }

  /** The record kept for `p`'s commit, no longer kept (undefined: none was). */
  private takeCommitted(p: Pending): Buffer | undefined {
    const record = p.committed;
    if (record) {
      p.committed = undefined;
      this.recentBytes -= record.length;
    }
    return record;
  }

  /**
   * Over RECENT_BYTES: the oldest pending transactions' kept records dropped (their commits read
   * the half record back). Only when over: an iterator's first step walks the deleted entries
   * V8 leaves at a Map's front until it rehashes.
   */
  private dropKeptRecords(): void {
    for (const p of this.pending.values()) {
      if (this.recentBytes <= RECENT_BYTES) break;
      this.takeCommitted(p);
    }
  }

  private async readHalf(p: Pending): Promise<HalfRecord | undefined> {
    const buf = await this.store.readCommitLog(p.offsetPy, p.size);
    const r = buf ? readHalfRecord(buf) : undefined;
    return r?.messageId === p.messageId ? r : undefined;
  }

  private async putOp(kind: OpKind, key: string, body: string): Promise<void> {
    await this.store.putMessages(batchOf(OP_TOPIC, 0, [opMessage(kind, key, body, this.now())]));
  }

  private remember(messageId: string, action: EndAction): void {
    if (this.ended.size >= ENDED_KEPT / 2) {
      this.endedBefore = this.ended;
      this.ended = new Map();
    }
    this.ended.set(messageId, action);
  }

  /** Every record of a system topic's queue 0 still stored, one record per buffer. */
  private async *scan(topic: string): AsyncGenerator<Buffer> {
    let offset = this.store.getMinOffsetInQueue(topic, 0);
    const max = this.store.getMaxOffsetInQueue(topic, 0);
    while (offset < max) {
      let got: Awaited<ReturnType<TransactionBackingStore['getMessage']>>;
      try {
        got = await this.store.getMessage(topic, 0, offset, SCAN_BATCH);
      } catch (e) {
        if (e instanceof CirrusError && e.code === 'OFFSET_BELOW_MINIMUM') {
          offset = this.store.getMinOffsetInQueue(topic, 0);
          continue;
        }
        throw e;
      }
      let pos = 0;
      while (pos < got.records.length) {
        const shape = readRecordShape(got.records, pos, got.records.length);
        if (!shape) break;
        yield got.records.subarray(pos, pos + shape.size);
        pos += shape.size;
      }
      if (got.nextOffset <= offset) return;
      offset = got.nextOffset;
    }
  }
}
