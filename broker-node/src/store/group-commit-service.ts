/**
 * SYNC_FLUSH (RocketMQ's GroupCommitService): a send is acknowledged only once an fdatasync
 * covers its bytes, and every send waiting at that moment shares the one fdatasync.
 *
 *   puts A, B (this turn) ─ fdatasync #1 ───┐ (thread pool)
 *   puts C, D (written during #1) ──────────┴─ A, B answered; they write again; fdatasync #2
 *                                               then covers C, D, A', B' (or starts at once
 *                                               if minGroupBytes already waited)
 *
 * The write itself is synchronous (the append already happened when a request arrives), and
 * the fdatasync runs on the thread pool, so the event loop keeps taking writes while the disk
 * works; the next fdatasync covers all of them. A sync starts once minGroupBytes wait, or
 * after the current turn of the event loop (setImmediate: no timer, so a lone producer waits
 * only for the disk); producers answered together thus write before the next sync and share
 * it. While a sync runs, the writes made meanwhile form the next group (see run()).
 *
 * Requests queue in append order, so their offsets and deadlines both increase: the queue
 * is answered from its head, by offset when a flush completes and by deadline when the one
 * timer (armed for the head) fires. A request whose flush misses syncFlushTimeoutMs answers
 * FLUSH_DISK_TIMEOUT: its data is written, just not yet known to be on disk (as RocketMQ).
 */
import { CirrusError, type Logger } from '@cirrusmq/client/protocol';
import type { PutMessageStatus } from './message-store-types';
import type { FlushObserver } from './store-stats-service';

/** The log a group commit syncs: the CommitLog. */
export interface GroupCommitTarget {
  flushAsync(): Promise<void>;
  getFlushedOffset(): number;
}

interface GroupCommitRequest {
  /** The log offset right after the request's write: the flush must reach it. */
  nextOffset: number;
  deadline: number;
  resolve(status: PutMessageStatus): void;
  reject(err: unknown): void;
}

/** Once this many answered requests sit at the head of the array, it is compacted. */
const COMPACT_AT = 1024;

/**
 * See run(): the smallest group a sync starts for without first letting the answered group
 * write. 4 MiB, what the raw baseline syncs at: with 64 producers of 37 KB batches (2.4 MB
 * in flight) every producer then writes before each sync (one group, half the fdatasyncs
 * of two alternating groups); a broker with more in flight still overlaps writes and syncs.
 */
export const DEFAULT_MIN_GROUP_BYTES = 4 * 1024 * 1024;

export class GroupCommitService {
  private requests: GroupCommitRequest[] = [];
  private head = 0;
  /** A commit loop is scheduled or running; cleared in the same step that sees the queue empty. */
  private active = false;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The loop waits to start the next sync until this offset is written (run()). */
  private lingering: { until: number; start(): void } | undefined;
  /** fdatasyncs done for waiting requests; requests answered PUT_OK; answered FLUSH_DISK_TIMEOUT. */
  commits = 0;
  requestsServed = 0;
  flushDiskTimeouts = 0;

  constructor(
    private readonly target: GroupCommitTarget,
    private readonly syncFlushTimeoutMs: number,
    private readonly observer: FlushObserver,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** A sync that would cover less than this waits for the group being answered to write (run()). */
    private readonly minGroupBytes = DEFAULT_MIN_GROUP_BYTES,
  ) {}

  /** Resolves PUT_OK once `nextOffset` is on disk, or FLUSH_DISK_TIMEOUT when the timeout passes first. */
  waitForFlush(nextOffset: number): Promise<PutMessageStatus> {
    if (this.target.getFlushedOffset() >= nextOffset) return Promise.resolve('PUT_OK');
    return new Promise<PutMessageStatus>((resolve, reject) => {
      this.requests.push({ nextOffset, deadline: this.now() + this.syncFlushTimeoutMs, resolve, reject });
      this.armTimer();
      this.wakeup();
      const lingering = this.lingering;
      if (lingering && nextOffset >= lingering.until) lingering.start();
    });
  }

  get pending(): number {
    return this.requests.length - this.head;
  }

  private wakeup(): void {
    if (this.active || this.stopped) return;
    this.active = true;
    this.running = this.run();
  }

  /**
   * Flushes while requests wait; each round covers every write made before it began.
   *
   * When a sync completes and at least minGroupBytes were written meanwhile, the next sync
   * starts at once, BEFORE the finished group is answered: the answered producers then write
   * their next batches while it runs on the thread pool (two groups alternate, one writing
   * while the other's sync runs). When less than that waits, the finished group is answered
   * first and the next sync waits for its writes: it starts as soon as minGroupBytes wait
   * (from inside waitForFlush, so the writes after that go to the next group), or after one
   * turn of the event loop (setImmediate) at the latest. An fdatasync here costs ~2 ms plus
   * ~1 ms per MiB, so tiny groups waste the disk on the fixed part; the wait adds no timer
   * latency, only the writes of producers answered in the same turn.
   *
   * The loop clears `active` synchronously with its last look at the queue, so a request
   * that arrives after that look always starts a new loop (no request is left waiting).
   */
  private async run(): Promise<void> {
    try {
      // From idle too, the first sync waits for the writes of this turn (producers answered
      // together write together) unless minGroupBytes already wait.
      let sync: Promise<boolean> | undefined = this.linger(this.target.getFlushedOffset());
      while (sync) {
        if (!(await sync)) return;
        const flushed = this.target.getFlushedOffset();
        const newest = this.requests.at(-1);
        if (this.stopped || this.pending === 0 || newest!.nextOffset <= flushed) {
          sync = undefined;
          this.completeUpTo(flushed);
        } else if (newest!.nextOffset - flushed >= this.minGroupBytes) {
          sync = this.flushTimed();
          this.completeUpTo(flushed);
        } else {
          this.completeUpTo(flushed);
          sync = this.linger(flushed);
        }
      }
    } finally {
      this.active = false;
    }
  }

  /** Starts the next sync once minGroupBytes wait past `flushed` (checked in waitForFlush), or after one event-loop turn. */
  private linger(flushed: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const start = () => {
        if (this.lingering === undefined) return;
        this.lingering = undefined;
        clearImmediate(immediate);
        // flushTimed() calls the target's flushAsync synchronously: the sync covers exactly what is written now.
        resolve(this.stopped ? true : this.flushTimed());
      };
      const immediate = setImmediate(start);
      this.lingering = { until: flushed + this.minGroupBytes, start };
    });
  }

  /** One fdatasync of everything written so far; false (and every waiting send failed) if it failed. */
  private async flushTimed(): Promise<boolean> {
    const t0 = performance.now();
    try {
      await this.target.flushAsync();
    } catch (err) {
      this.logger.error('group commit: fdatasync failed; failing the sends waiting for it', { err, waiting: this.pending });
      this.failAll(new CirrusError('INTERNAL', 'the broker could not sync its log to disk', { cause: err }));
      return false;
    }
    this.observer.recordFlush(performance.now() - t0);
    this.commits++;
    return true;
  }

  private completeUpTo(flushedOffset: number): void {
    const reqs = this.requests;
    while (this.head < reqs.length && reqs[this.head]!.nextOffset <= flushedOffset) {
      reqs[this.head++]!.resolve('PUT_OK');
      this.requestsServed++;
    }
    this.compact();
  }

  private failAll(err: unknown): void {
    const reqs = this.requests;
    while (this.head < reqs.length) reqs[this.head++]!.reject(err);
    this.compact();
  }

  private compact(): void {
    if (this.head === this.requests.length) {
      this.requests.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT) {
      this.requests = this.requests.slice(this.head);
      this.head = 0;
    }
  }

  /** One timer, for the oldest waiting request; it answers what is overdue and re-arms. */
  private armTimer(): void {
    if (this.timer || this.pending === 0) return;
    const delay = Math.max(0, this.requests[this.head]!.deadline - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
      this.armTimer();
    }, delay);
  }

  private expire(): void {
    const t = this.now();
    const reqs = this.requests;
    let expired = 0;
    while (this.head < reqs.length && reqs[this.head]!.deadline <= t) {
      reqs[this.head++]!.resolve('FLUSH_DISK_TIMEOUT');
      expired++;
    }
    if (expired > 0) {
      this.flushDiskTimeouts += expired;
      this.logger.warn('group commit: fdatasync slower than syncFlushTimeoutMs, answering FLUSH_DISK_TIMEOUT', {
        requests: expired,
        syncFlushTimeoutMs: this.syncFlushTimeoutMs,
      });
    }
    this.compact();
  }

  /** simulateCrash: stops without answering anyone (a killed broker answers no one). */
  async abandon(): Promise<void> {
    this.stopped = true;
    this.lingering?.start();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /**
   * Stops the loop after the flush in flight, then flushes once more so the requests still
   * waiting are answered by the data's real state (the store closes the files next).
   */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.lingering?.start();
    await this.running;
    if (this.pending > 0 && (await this.flushTimed())) this.completeUpTo(this.target.getFlushedOffset());
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
