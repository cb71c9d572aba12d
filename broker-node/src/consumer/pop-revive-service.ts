/**
 * The end of leases nobody acked (RocketMQ's PopReviveService): one timer on the earliest
 * deadline; an expired lease becomes READY (and wakes one receive of its group), or, after
 * maxDeliveries deliveries, goes to %DLQ%{group} (dead-letter.ts). Counts retries and dead
 * letters per group + topic for the consumer's progress.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { DeadLetterService } from './dead-letter';
import type { PopJournal } from './pop-journal-record';
import type { Lease, PopLeaseTable, QueueLeases } from './pop-lease-table';
import type { PopLongPollingService } from './pop-long-polling-service';
import { insertSorted } from './sorted-offsets';

export interface PopReviveDeps {
  table: PopLeaseTable;
  polling: PopLongPollingService;
  deadLetter: DeadLetterService;
  logger: Logger;
  now: () => number;
  /** The journal once the state is recovered (PopService.journal): the replay itself is not journaled again. */
  journal: () => PopJournal | undefined;
}

export interface ReviveCounts {
  retried: number;
  deadLettered: number;
}

export class PopReviveService {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  /** Since the broker started, per group + topic. */
  private readonly counters = new Map<string, ReviveCounts>();

  constructor(private readonly deps: PopReviveDeps) {}

  /** Runs the expiry of leases whose deadline passed. */
  expire(): void {
    this.deps.table.expire(this.deps.now(), (q, l) => {
      this.count(q).retried++;
      if (l.attempt >= q.maxDeliveries) {
        this.startDeadLetter(q, l);
        return;
      }
      insertSorted(q.ready, l.offset);
      this.deps.polling.notifyReleased(q.topic, q.group, q.queueId);
    });
    this.armTimer();
  }

  startDeadLetter(q: QueueLeases, l: Lease): void {
    l.state = 'DEAD_LETTERING';
    const generation = l.generation;
    this.deps.deadLetter.send({ group: q.group, topic: q.topic, queueId: q.queueId, queueOffset: l.offset, deliveryAttempts: l.attempt }).then(
      (sent) => {
        // A reset or commit while the copy was written already resolved it.
        if (q.leases.get(l.offset) !== l || l.generation !== generation) return;
        this.deps.table.resolve(q, l.offset);
        this.deps.journal()?.append({ t: 'DLQ', g: q.group, topic: q.topic, q: q.queueId, offset: l.offset });
        if (sent) this.count(q).deadLettered++;
        if (q.orderly) this.deps.polling.notifyReleased(q.topic, q.group, q.queueId);
      },
      (err: unknown) => {
        // Stays unresolved (the committed offset holds); the next receive of the queue tries again.
        this.deps.logger.error('dead letter failed', { group: q.group, topic: q.topic, queueId: q.queueId, offset: l.offset, err: String(err) });
        if (q.leases.get(l.offset) !== l) return;
        l.state = 'READY';
        insertSorted(q.ready, l.offset);
      },
    );
  }

  countsOf(group: string, topic: string): ReviveCounts | undefined {
    return this.counters.get(groupTopicKey(group, topic));
  }

  /** One timer, on the earliest live deadline. */
  armTimer(): void {
    if (this.stopped) return;
    const next = this.deps.table.nextDeadline();
    if (next === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer && this.timerAt <= next) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.expire();
      },
      Math.max(0, next - this.deps.now()),
    );
    this.timer.unref();
  }

  shutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private count(q: QueueLeases): ReviveCounts {
    const key = groupTopicKey(q.group, q.topic);
    let c = this.counters.get(key);
    if (!c) {
      c = { retried: 0, deadLettered: 0 };
      this.counters.set(key, c);
    }
    return c;
  }
}

export function groupTopicKey(group: string, topic: string): string {
  return `${group}\u0000${topic}`;
}
