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
import { ServiceThread } from '../service-thread';

/** CommitLog bytes written since the last checkpoint that start a flush round before the timer does. */
export const FLUSH_ROUND_BYTES = 32 * 1024 * 1024;

/** Something with bytes to sync: the CommitLog, the ConsumeQueues. */
export interface Flushable {
  flushAsync(): Promise<void>;
}

export interface FlushCommitLogService {
  start(): void;
  /** Runs a round now, or right after the one running (the next tick is an interval after it). */
  wakeup(): void;
  /** Stops the timer and waits for a flush in flight (the files are closed next). */
  shutdown(): Promise<void>;
}

/** A ServiceThread: one round per intervalMs, or at once on wakeup (a wakeup during a round runs the next right after it). */
export class FlushRealTimeService extends ServiceThread implements FlushCommitLogService {
  constructor(
    private readonly flushRound: () => Promise<void>,
    private readonly intervalMs: number,
    logger: Logger,
  ) {
    super(logger);
  }

  getServiceName(): string {
    return 'FlushRealTimeService';
  }

  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForRunning(this.intervalMs, signal);
      if (signal.aborted) return;
      await this.flushOnce();
    }
  }

  async flushOnce(): Promise<void> {
    try {
      await this.flushRound();
    } catch (e) {
      this.logger.error('flush failed', { err: e });
    }
  }
}
