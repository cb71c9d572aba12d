/**
 * The appends of commits and rollbacks, batched: the ends that arrive in one turn of the event
 * loop (a producer's burst of callbacks, a gateway's concurrent requests) share one put per real
 * queue and one op record per kind, instead of two puts each (measured in
 * test/bench/transactions.ts). The committed messages go first, then the op records: a crash
 * between them leaves the transactions pending, so they are committed again at their next check
 * (at least once, as in RocketMQ), never marked ended without their message.
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { PutMessageResult } from '../store/message-store-types';
import type { SendBatch } from '@cirrusmq/client/protocol';
import { batchOf } from '../timer/timer-record';
import { endOpMessages, OP_TOPIC, sendBatchOfRecords } from './half-message';

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

/** At most this many records in one put (the store's batch limit). */
const MAX_PUT_MESSAGES = 1000;

export class EndBatcher<T extends EndTarget> {
  private waiting: Entry<T>[] | undefined;

  constructor(
    private readonly putMessages: (batch: SendBatch) => Promise<PutMessageResult>,
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
    const queues = new Map<string, { topic: string; queueId: number; items: { entry: Entry<T>; record: Buffer }[] }>();
    const ending: Entry<T>[] = [];
    entries.forEach((e, i) => {
      if (e.action === 'ROLLBACK') {
        ending.push(e);
        return;
      }
      const r = records[i] as CommittedRecord;
      if (!r) {
        e.reject(new CirrusError('INTERNAL', `the half message of transaction ${e.target.messageId} is gone from the CommitLog`));
        return;
      }
      const key = e.target.queueKey ?? `${e.target.realTopic}\u0000${e.target.realQueueId}`;
      let q = queues.get(key);
      if (!q) queues.set(key, (q = { topic: e.target.realTopic, queueId: e.target.realQueueId, items: [] }));
      q.items.push({ entry: e, record: r });
    });
    await Promise.all(
      [...queues.values()].flatMap((q) =>
        chunks(q.items).map(async (items) => {
          try {
            const put = await this.putMessages(
              sendBatchOfRecords(
                q.topic,
                q.queueId,
                items.map((it) => it.record),
              ),
            );
            items.forEach((it, j) => {
              it.entry.queueOffset = put.queueOffset + j;
              ending.push(it.entry);
            });
          } catch (e) {
            for (const it of items) it.entry.reject(e);
          }
        }),
      ),
    );
    // One op record per kind for a whole part (its ids in the body), not one per end.
    await Promise.all(
      chunks(ending).map(async (part) => {
        try {
          const now = this.now();
          const commits: string[] = [];
          const rollbacks: string[] = [];
          for (const e of part) (e.action === 'COMMIT' ? commits : rollbacks).push(e.target.messageId);
          const ops = [
            ...(commits.length > 0 ? endOpMessages('COMMIT', commits, now) : []),
            ...(rollbacks.length > 0 ? endOpMessages('ROLLBACK', rollbacks, now) : []),
          ];
          await this.putMessages(batchOf(OP_TOPIC, 0, ops));
          for (const e of part) e.resolve(e.queueOffset);
        } catch (err) {
          for (const e of part) e.reject(err);
        }
      }),
    );
  }
}

function chunks<X>(xs: X[]): X[][] {
  if (xs.length <= MAX_PUT_MESSAGES) return xs.length > 0 ? [xs] : [];
  const out: X[][] = [];
  for (let i = 0; i < xs.length; i += MAX_PUT_MESSAGES) out.push(xs.slice(i, i + MAX_PUT_MESSAGES));
  return out;
}
