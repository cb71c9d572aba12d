/**
 * When appended bytes reach the disk (RocketMQ's FlushCommitLogService). ASYNC_FLUSH for
 * now: a send is acknowledged after its write (page cache) and a timer fdatasyncs every
 * flushIntervalMs (FlushRealTimeService). SYNC_FLUSH (GroupCommitService: producers that
 * wait share one fdatasync) plugs in here later, behind the same interface.
 */
import type { Logger } from '../../../client/src/logger';

/** Something with bytes to sync: the CommitLog, the ConsumeQueues. */
export interface Flushable {
  flushAsync(): Promise<void>;
}

export interface FlushCommitLogService {
  start(): void;
  /** Stops the timer and waits for a flush in flight (the files are closed next). */
  shutdown(): Promise<void>;
}

export class FlushRealTimeService implements FlushCommitLogService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly targets: readonly Flushable[],
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
    this.timer = setTimeout(() => {
      this.running = this.flushOnce().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.intervalMs);
    // The HTTP server keeps the process alive; a flush timer alone must not.
    this.timer.unref();
  }

  async flushOnce(): Promise<void> {
    for (const t of this.targets) {
      try {
        await t.flushAsync();
      } catch (e) {
        this.logger.error('flush failed', { err: e });
      }
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
