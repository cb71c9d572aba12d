/**
 * The table of transactions neither committed nor rolled back, and the ids ended recently (for a
 * 409 on a second end). It stands for RocketMQ's re-append of every half message at each check:
 * the table lives in memory and is rebuilt from the op and half topics at start
 * (transaction-recovery.ts).
 */
import type { HalfMessageRef } from './half-message';

export type EndAction = 'COMMIT' | 'ROLLBACK';

export interface PendingTransaction extends HalfMessageRef {
  storedMs: number;
  checks: number;
  nextCheckMs: number;
  /** `${realTopic}\u0000${realQueueId}`, one string for a whole send batch: the end batcher groups commits by it. */
  queueKey: string;
  /** The record a commit appends, kept from the send (divertHalfMessages' committed) while within RECENT_BYTES. */
  committed: Buffer | undefined;
}

/** Ended ids remembered for a 409: the newest ENDED_KEPT / 2 at least, ENDED_KEPT at most (older ones forgotten: then a late commit is a 404). */
const ENDED_KEPT = 100_000;
/** Committed forms of recent half messages kept in memory (PendingTransaction.committed), so the usual quick commit reads nothing back (32 MiB of bodies at most, oldest dropped first). */
const RECENT_BYTES = 32 * 1024 * 1024;

export class PendingTransactions {
  private readonly pending = new Map<string, PendingTransaction>();
  /**
   * Ended ids in two generations: the newest up to ENDED_KEPT / 2, then the ones before, dropped
   * whole when the newest is full. An end is one set on a Map that only grows: evicting the
   * oldest id one by one (a ring of ids and a delete per end) cost a delete on a 100,000-entry
   * table and its rehashes, ~3x the set alone (measured: 430-530 ns against 110-330 ns).
   */
  private ended = new Map<string, EndAction>();
  private endedBefore = new Map<string, EndAction>();
  private recentBytes = 0;

  get size(): number {
    return this.pending.size;
  }

  get(messageId: string): PendingTransaction | undefined {
    return this.pending.get(messageId);
  }

  /** The live iterator, not a copy: a pass over a large table allocates little. */
  values(): IterableIterator<PendingTransaction> {
    return this.pending.values();
  }

  /** Adds (or replaces) a pending transaction; `p.committed` counts against RECENT_BYTES. */
  add(p: PendingTransaction): void {
    // The same id sent again (a retried send): the bytes kept for the one it replaces are no longer kept.
    const before = this.pending.get(p.messageId)?.committed;
    if (before) this.recentBytes -= before.length;
    if (p.committed) this.recentBytes += p.committed.length;
    this.pending.set(p.messageId, p);
  }

  /** After a batch of adds: over RECENT_BYTES, the oldest pending transactions' kept records are dropped. */
  trimKeptRecords(): void {
    if (this.recentBytes > RECENT_BYTES) this.dropKeptRecords();
  }

  /** Ends `p` here (out of the table, remembered as ended); `restore` undoes it when its end could not be stored. */
  end(p: PendingTransaction, action: EndAction): void {
    this.pending.delete(p.messageId);
    this.remember(p.messageId, action);
    if (action === 'ROLLBACK') this.takeCommitted(p);
  }

  restore(p: PendingTransaction): void {
    this.ended.delete(p.messageId);
    this.endedBefore.delete(p.messageId);
    this.pending.set(p.messageId, p);
  }

  /** How a transaction no longer pending ended, while remembered. */
  endedAs(messageId: string): EndAction | undefined {
    return this.ended.get(messageId) ?? this.endedBefore.get(messageId);
  }

  endedCount(): number {
    return this.ended.size + this.endedBefore.size;
  }

  remember(messageId: string, action: EndAction): void {
    if (this.ended.size >= ENDED_KEPT / 2) {
      this.endedBefore = this.ended;
      this.ended = new Map();
    }
    this.ended.set(messageId, action);
  }

  /** The record kept for `p`'s commit, no longer kept (undefined: none was). */
  takeCommitted(p: PendingTransaction): Buffer | undefined {
    const record = p.committed;
    if (record) {
      p.committed = undefined;
      this.recentBytes -= record.length;
    }
    return record;
  }

  /** The CommitLog offset of the oldest pending half record (infinity: none). */
  oldestOffset(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const p of this.pending.values()) if (p.offsetPy < min) min = p.offsetPy;
    return min;
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
}
