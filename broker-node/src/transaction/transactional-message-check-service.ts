/**
 * The check-backs (RocketMQ's TransactionalMessageCheckService): every pending transaction is
 * checked with its producer group first after checkFirstMs, then every checkIntervalMs; after
 * checkMax checks it is rolled back and logged. A group with a check URL is called
 * (check-url-caller.ts); otherwise the check waits in the group's outbox for a long poll
 * (takeChecks) of an SDK producer. The groups' check URLs are op records, appended again every
 * groupRefreshMs so retention never deletes the last one.
 */
import { type BrokerTransactionCheck, CirrusError, decodeRecord, encodeTransactionId, type Logger, MessageConst } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../periodic-service';
import { callCheckUrl } from './check-url-caller';
import type { HalfRecord } from './half-message';
import type { OpKind } from './op-message';
import type { EndAction, PendingTransaction, PendingTransactions } from './pending-transactions';
import type { TransactionCounters } from './transaction-metrics';
import type { TransactionConfig } from './transactional-message-service';

export interface ProducerGroupRecord {
  checkUrl: string | null;
  storedMs: number;
}

export interface CheckServiceDeps {
  pending: PendingTransactions;
  config: TransactionConfig;
  counters: TransactionCounters;
  logger: Logger;
  now: () => number;
  /** The service's end: a check's answer, or the rollback after the last check. */
  end(messageId: string, action: EndAction): Promise<unknown>;
  readHalf(p: PendingTransaction): Promise<HalfRecord | undefined>;
  putOp(kind: OpKind, key: string, body: string): Promise<void>;
}

const RESERVED = new Set<string>(Object.values(MessageConst));
/** Check URL calls in flight at once. */
const MAX_CHECK_CALLS = 64;

export class TransactionalMessageCheckService {
  readonly groups = new Map<string, ProducerGroupRecord>();
  /** Checks due for SDK producers, per group, until a long poll takes them or the transaction ends. */
  private readonly outbox = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly checking = new Set<string>();
  private readonly loop: PeriodicService;

  constructor(private readonly deps: CheckServiceDeps) {
    const { checkFirstMs, checkIntervalMs } = deps.config;
    const tick = Math.max(20, Math.min(1_000, Math.floor(Math.min(checkFirstMs, checkIntervalMs) / 4)));
    this.loop = new PeriodicService('TransactionalMessageCheckService', tick, () => this.checkPass(), deps.logger);
  }

  /** Registers (or with null clears) a producer group's check URL; kept as an op record, so it survives a crash and a restore. */
  async registerGroup(group: string, checkUrl: string | null): Promise<void> {
    const prefixes = this.deps.config.checkUrlPrefixes ?? [];
    if (checkUrl !== null && prefixes.length > 0 && !prefixes.some((p) => checkUrl.startsWith(p))) {
      throw new CirrusError('INVALID_PARAMETER', `checkUrl must start with one of ${prefixes.join(', ')} (CIRRUSMQ_TRANSACTION_CHECK_URL_PREFIXES)`);
    }
    await this.deps.putOp('GROUP', group, JSON.stringify({ checkUrl }));
    this.groups.set(group, { checkUrl, storedMs: this.deps.now() });
  }

  /**
   * Takes the registrations of groups this broker has never been told of, from a peer (a broker
   * that joined, or was down, after the group's PUT): one registered with the brokers of its
   * time must not have its half messages here rolled back unasked. A group this broker knows
   * stays as it was told; a URL outside this broker's prefixes is left out. The groups taken.
   */
  async adoptGroups(records: readonly { group: string; checkUrl: string | null }[]): Promise<string[]> {
    const taken: string[] = [];
    for (const { group, checkUrl } of records) {
      if (this.groups.has(group)) continue;
      try {
        await this.registerGroup(group, checkUrl);
        taken.push(group);
      } catch (e) {
        this.deps.logger.warn('producer group of a peer not taken', { group, checkUrl, err: e instanceof Error ? e.message : String(e) });
      }
    }
    return taken;
  }

  checkUrlOf(group: string): string | null {
    return this.groups.get(group)?.checkUrl ?? null;
  }

  /** A transaction ended: a check waiting for its group's long poll is no longer due. */
  cancel(p: PendingTransaction): void {
    this.outbox.get(p.producerGroup)?.delete(p.messageId);
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
      const p = this.deps.pending.get(id);
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

  start(): void {
    this.loop.start();
  }

  async close(): Promise<void> {
    for (const set of this.waiters.values()) for (const done of [...set]) done();
    await this.loop.shutdown();
  }

  /** One pass: due transactions are checked, those past checkMax rolled back; old check URL records refreshed. */
  async checkPass(): Promise<void> {
    const { pending, config, counters, logger } = this.deps;
    const now = this.deps.now();
    const { checkIntervalMs, checkMax } = config;
    const discard: PendingTransaction[] = [];
    // Nothing is awaited inside the walk of the live table.
    for (const p of pending.values()) {
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
      counters.checks++;
      if (url) void this.callCheckUrl(p, url);
      else this.offer(p);
    }
    for (const p of discard) {
      logger.warn('transaction rolled back after its last check', {
        transactionId: encodeTransactionId(config.brokerName, p.messageId),
        producerGroup: p.producerGroup,
        topic: p.realTopic,
        checks: p.checks,
      });
      try {
        await this.deps.end(p.messageId, 'ROLLBACK');
        counters.discarded++;
      } catch (e) {
        // Ended meanwhile by its producer, or the store refused: then the next pass tries again.
        if (!(e instanceof CirrusError && e.code === 'TRANSACTION_ALREADY_ENDED'))
          logger.error('transaction: rollback after the last check failed', { err: e });
      }
    }
    const refresh = config.groupRefreshMs ?? 86_400_000;
    for (const [group, g] of this.groups) if (now - g.storedMs >= refresh) await this.registerGroup(group, g.checkUrl);
  }

  private offer(p: PendingTransaction): void {
    let ids = this.outbox.get(p.producerGroup);
    if (!ids) this.outbox.set(p.producerGroup, (ids = new Set()));
    ids.add(p.messageId);
    for (const done of [...(this.waiters.get(p.producerGroup) ?? [])]) done();
  }

  private async callCheckUrl(p: PendingTransaction, url: string): Promise<void> {
    this.checking.add(p.messageId);
    try {
      const check = await this.checkOf(p);
      if (!check) return;
      const answer = await callCheckUrl(url, check, this.deps.config.checkUrlTimeoutMs);
      if (answer.reason) {
        this.deps.counters.checkUnknown[answer.reason]++;
        if (answer.reason !== 'unknown')
          this.deps.logger.warn('transaction check URL gave no answer', { producerGroup: p.producerGroup, reason: answer.reason });
        return;
      }
      if (answer.resolution === 'COMMIT' || answer.resolution === 'ROLLBACK') await this.deps.end(p.messageId, answer.resolution);
    } catch (e) {
      // Ended by its producer meanwhile: nothing left to do.
      if (!(e instanceof CirrusError && (e.code === 'TRANSACTION_ALREADY_ENDED' || e.code === 'TRANSACTION_NOT_FOUND')))
        this.deps.logger.error('transaction check failed', { err: e });
    } finally {
      this.checking.delete(p.messageId);
    }
  }

  private async checkOf(p: PendingTransaction): Promise<BrokerTransactionCheck | undefined> {
    const r = await this.deps.readHalf(p);
    if (!r) return undefined;
    const m = decodeRecord(r.buf, 0, r.shape);
    const properties: Record<string, string> = {};
    for (const k in m.properties) if (!RESERVED.has(k) && k !== MessageConst.TRANSACTION_ID) properties[k] = m.properties[k]!;
    return {
      transactionId: encodeTransactionId(this.deps.config.brokerName, p.messageId),
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
}
