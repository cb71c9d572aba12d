/**
 * When appended bytes reach the disk (RocketMQ's FlushCommitLogService), per broker:
 *
 *   ASYNC_FLUSH  a send is acknowledged after its write (page cache); this timer fdatasyncs
 *                the CommitLog every flushIntervalMs (FlushRealTimeService).
 *   SYNC_FLUSH   a send waits for a group-commit fdatasync (group-commit-service.ts); this
 *                timer then syncs only the indexes.
 *
 * Either way each tick is one flush round (the store's flushRound): CommitLog (ASYNC only),
 * ConsumeQueues, then the checkpoint that records how far all of them got.
 *
 * A round also starts early, once FLUSH_ROUND_BYTES were written since the last checkpoint
 * (wakeup()): at full write speed 500 ms of writes is hundreds of MB, and both the ASYNC
 * fdatasync of that much and what recovery must verify and replay after a crash (all that
 * the checkpoint trails by) grow with it. Under load, rounds then run back to back, each
 * covering about this much, on the thread pool.
 */
import type { Logger } from '@cirrusmq/client/protocol';

/** CommitLog bytes written since the last checkpoint that start a flush round before the timer does. */
export const FLUSH_ROUND_BYTES = 32 * 1024 * 1024;

/** Something with bytes to sync: the CommitLog, the ConsumeQueues. */
export interface Flushable {
  flushAsync(): Promise<void>;
}

export interface FlushCommitLogService {
  start(): void;
  /** Runs a round now unless one is running (the next tick is rescheduled after it). */
  wakeup(): void;
  /** Stops the timer and waits for a flush in flight (the files are closed next). */
  shutdown(): Promise<void>;
}

export class FlushRealTimeService implements FlushCommitLogService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly flushRound: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** A chain of timeouts, not an interval, so a slow disk never stacks flushes up. */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.runRound(), this.intervalMs);
    // The HTTP server keeps the process alive; a flush timer alone must not.
    this.timer.unref();
  }

  wakeup(): void {
    if (this.running || this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.runRound();
  }

  private runRound(): void {
    this.timer = undefined;
    this.running = this.flushOnce().finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  async flushOnce(): Promise<void> {
    try {
      await this.flushRound();
    } catch (e) {
      this.logger.error('flush failed', { err: e });
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
