/**
 * The appends of commits and rollbacks, batched: the ends that arrive in one turn of the event
 * loop (a producer's burst of callbacks, a gateway's concurrent requests) share one CommitLog
 * write (the store's putMessagesOfQueues): the committed messages of every real queue, then one
 * op record per kind, instead of two puts each, or a put per queue (measured in
 * test/bench/transactions.ts). The committed messages come first in the log: a crash that tears
 * the write keeps a prefix, which leaves the transactions whose op record is lost pending, so
 * they are committed again at their next check (at least once, as in RocketMQ), never marked
 * ended without their message.
 */
import { CirrusError, type SendBatch } from '@cirrusmq/client/protocol';
import type { PutMessageResult } from '../store/message-store-types';
import { batchOf } from '../timer/timer-record';
import { batchOfRecords } from './half-message';
import { endOpMessages, OP_TOPIC } from './op-message';

export interface EndTarget {
  messageId: string;
  realTopic: string;
  realQueueId: number;
  /** `${realTopic}\u0000${realQueueId}` when the caller has it already (computed otherwise). */
  queueKey?: string;
}

interface Entry<T extends EndTarget> {
  target: T;
  action: 'COMMIT' | 'ROLLBACK';
  resolve: (queueOffset: number | undefined) => void;
  reject: (e: unknown) => void;
  /** A commit's offset in its queue, once put. */
  queueOffset?: number;
}

/** What a commit appends: its record in CommitLog layout under the real topic (undefined: its half record is gone). */
export type CommittedRecord = Buffer | undefined;

/** At most this many ends in one put (a send batch's limit). */
const MAX_PUT_MESSAGES = 1000;

export class EndBatcher<T extends EndTarget> {
  private waiting: Entry<T>[] | undefined;

  constructor(
    /** The store's putMessagesOfQueues: several queues' records in one write. */
    private readonly putOfQueues: (batch: SendBatch, queues: readonly { topic: string; queueId: number; count: number }[]) => Promise<PutMessageResult[]>,
    /** The record a commit appends: usually kept from the send (synchronous), else read back. */
    private readonly committed: (target: T) => Promise<CommittedRecord> | CommittedRecord,
    private readonly now: () => number,
  ) {}

  /** Resolves once the end is stored, with a commit's offset in its queue. */
  submit(target: T, action: 'COMMIT' | 'ROLLBACK'): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      if (!this.waiting) {
        this.waiting = [];
        setImmediate(() => void this.flush());
      }
      this.waiting.push({ target, action, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const entries = this.waiting!;
    this.waiting = undefined;
    const records: (Promise<CommittedRecord> | CommittedRecord)[] = new Array(entries.length);
    let reads = false;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const r = e.action === 'COMMIT' ? this.committed(e.target) : undefined;
      if (r instanceof Promise) reads = true;
      records[i] = r;
    }
    if (reads) for (let i = 0; i < records.length; i++) records[i] = await records[i];
    const ready: { entry: Entry<T>; record: Buffer | undefined }[] = [];
    entries.forEach((e, i) => {
      const r = records[i] as CommittedRecord;
      if (e.action === 'COMMIT' && !r) {
        e.reject(new CirrusError('INTERNAL', `the half message of transaction ${e.target.messageId} is gone from the CommitLog`));
        return;
      }
      ready.push({ entry: e, record: r });
    });
    await Promise.all(chunks(ready).map((part) => this.putPart(part)));
  }

  /**
   * One CommitLog write for a part's ends: the committed records, queue by queue, then the op
   * records (one per kind, its ids in the body). The commits come first in the log: a torn write
   * keeps a prefix, so no transaction is marked ended without its message.
   */
  private async putPart(part: { entry: Entry<T>; record: Buffer | undefined }[]): Promise<void> {
    const queues = new Map<string, { topic: string; queueId: number; items: { entry: Entry<T>; record: Buffer }[] }>();
    const commits: string[] = [];
    const rollbacks: string[] = [];
    for (const { entry: e, record } of part) {
      if (e.action === 'ROLLBACK') {
        rollbacks.push(e.target.messageId);
        continue;
      }
      commits.push(e.target.messageId);
      const key = e.target.queueKey ?? `${e.target.realTopic}\u0000${e.target.realQueueId}`;
      let q = queues.get(key);
      if (!q) queues.set(key, (q = { topic: e.target.realTopic, queueId: e.target.realQueueId, items: [] }));
      q.items.push({ entry: e, record: record! });
    }
    const now = this.now();
    const ops = [
      ...(commits.length > 0 ? endOpMessages('COMMIT', commits, now) : []),
      ...(rollbacks.length > 0 ? endOpMessages('ROLLBACK', rollbacks, now) : []),
    ];
    const opBatch = batchOf(OP_TOPIC, 0, ops);
    const buffers: Buffer[] = [];
    const layout: { topic: string; queueId: number; count: number }[] = [];
    for (const q of queues.values()) {
      for (const it of q.items) buffers.push(it.record);
      layout.push({ topic: q.topic, queueId: q.queueId, count: q.items.length });
    }
    for (const { pos, shape } of opBatch.records) buffers.push(opBatch.body.subarray(pos, pos + shape.size));
    layout.push({ topic: OP_TOPIC, queueId: 0, count: opBatch.records.length });
    try {
      const puts = await this.putOfQueues(batchOfRecords(buffers), layout);
      let i = 0;
      for (const q of queues.values()) {
        const first = puts[i++]!.queueOffset;
        q.items.forEach((it, j) => {
          it.entry.queueOffset = first + j;
        });
      }
      for (const { entry } of part) entry.resolve(entry.queueOffset);
    } catch (err) {
      for (const { entry } of part) entry.reject(err);
    }
  }
}

function chunks<X>(xs: X[]): X[][] {
  if (xs.length <= MAX_PUT_MESSAGES) return xs.length > 0 ? [xs] : [];
  const out: X[][] = [];
  for (let i = 0; i < xs.length; i += MAX_PUT_MESSAGES) out.push(xs.slice(i, i + MAX_PUT_MESSAGES));
  return out;
}
