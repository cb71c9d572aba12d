/**
 * SYNC_FLUSH (RocketMQ's GroupCommitService): a send is acknowledged only once an fdatasync
 * covers its bytes, and every send waiting at that moment shares the one fdatasync.
 *
 *   put A (write) ── fdatasync #1 ─────────┐ (thread pool)
 *   put B, C, D (written during #1) ───────┴─ fdatasync #2 starts, THEN A is answered
 *   A's next put (written during #2) ───────── fdatasync #3 starts, THEN B, C, D answered
 *
 * The write itself is synchronous (the append already happened when a request arrives), and
 * the fdatasync runs on the thread pool, so the event loop keeps taking writes while the disk
 * works; the next fdatasync covers all of them. With nothing in flight, a request starts a
 * sync at once (lowest latency for a lone producer); the requests that arrive meanwhile form
 * the next group. Each group's sync starts before the previous group is answered, so two
 * groups alternate: one writing while the other's sync runs (see run()).
 *
 * Requests queue in append order, so their offsets and deadlines both increase: the queue
 * is answered from its head, by offset when a flush completes and by deadline when the one
 * timer (armed for the head) fires. A request whose flush misses syncFlushTimeoutMs answers
 * FLUSH_DISK_TIMEOUT: its data is written, just not yet known to be on disk (as RocketMQ).
 */
import { CirrusError } from '../../../client/src/errors';
import type { Logger } from '../../../client/src/logger';

export type PutMessageStatus = 'PUT_OK' | 'FLUSH_DISK_TIMEOUT';

/** The log a group commit syncs: the CommitLog. */
export interface GroupCommitTarget {
  flushAsync(): Promise<void>;
  getFlushedOffset(): number;
}

export interface FlushObserver {
  /** A flush finished in `latencyMs`. */
  recordFlush(latencyMs: number): void;
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

export class GroupCommitService {
  private requests: GroupCommitRequest[] = [];
  private head = 0;
  /** A commit loop is scheduled or running; cleared in the same step that sees the queue empty. */
  private active = false;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
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
  ) {}

  /** Resolves PUT_OK once `nextOffset` is on disk, or FLUSH_DISK_TIMEOUT when the timeout passes first. */
  waitForFlush(nextOffset: number): Promise<PutMessageStatus> {
    if (this.target.getFlushedOffset() >= nextOffset) return Promise.resolve('PUT_OK');
    return new Promise<PutMessageStatus>((resolve, reject) => {
      this.requests.push({ nextOffset, deadline: this.now() + this.syncFlushTimeoutMs, resolve, reject });
      this.armTimer();
      this.wakeup();
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
   * When a sync completes, the next one (for the requests written while it ran) starts
   * BEFORE the finished group is answered: the answered producers then write their next
   * batches while that sync runs on the thread pool, instead of the disk and the event loop
   * taking turns. Two groups alternate, each writing while the other's sync runs.
   *
   * The loop clears `active` synchronously with its last look at the queue, so a request
   * that arrives after that look always starts a new loop (no request is left waiting).
   */
  private async run(): Promise<void> {
    try {
      let sync: Promise<boolean> | undefined = this.flushTimed();
      while (sync) {
        if (!(await sync)) return;
        const flushed = this.target.getFlushedOffset();
        const newest = this.requests.at(-1);
        sync = !this.stopped && this.pending > 0 && newest!.nextOffset > flushed ? this.flushTimed() : undefined;
        this.completeUpTo(flushed);
      }
    } finally {
      this.active = false;
    }
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
    await this.running;
    if (this.pending > 0 && (await this.flushTimed())) this.completeUpTo(this.target.getFlushedOffset());
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
