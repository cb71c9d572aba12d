/**
 * One flush round of the store (FlushRealTimeService's tick, flush-service.ts) and the
 * checkpoint it ends with:
 *
 *   progress read first:   logicsOffset = CommitLog end, physicMsgTimestamp
 *   CommitLog fdatasync    (ASYNC_FLUSH; the group commit does it under SYNC_FLUSH)
 *   ConsumeQueues          pending units written (consume-queue.ts), then fdatasync, one at a time
 *   key index persist      so its progress keeps up with the checkpoint
 *   checkpoint             { flushed CommitLog offset, logicsOffset, index progress }
 *
 * The progress it records is read BEFORE the flushes: the dispatcher runs inside each
 * append, so every record before the CommitLog's end at that moment has its units appended,
 * and once the ConsumeQueue files are written and synced they are on disk.
 */
import type { CommitLog } from './commit-log';
import type { ConsumeQueue } from './consume-queue';
import type { Dispatcher } from './dispatcher';
import type { FlushDiskType } from './message-store-types';
import type { IndexService } from './index/index-service';
import type { CheckpointData, StoreCheckpoint } from './store-checkpoint';
import type { StoreStatsService } from './store-stats-service';

export interface FlushRoundParts {
  commitLog: CommitLog;
  checkpoint: StoreCheckpoint;
  indexService: IndexService;
  dispatcher: Dispatcher;
  consumeQueues: () => Iterable<ConsumeQueue>;
  stats: StoreStatsService;
  flushDiskType: FlushDiskType;
}

export class StoreFlushRound {
  /** The last checkpoint written. */
  lastCheckpoint: CheckpointData | undefined;
  /** The CommitLog offset the last checkpoint covers (logics progress): how far the checkpoint trails. */
  checkpointedOffset = 0;

  constructor(private readonly p: FlushRoundParts) {}

  async run(): Promise<void> {
    const { commitLog, stats } = this.p;
    const logicsOffset = commitLog.getMaxOffset();
    const physicMsgTimestamp = commitLog.lastStoreTimestamp;
    if (this.p.flushDiskType === 'ASYNC_FLUSH' && commitLog.getFlushedOffset() < logicsOffset) {
      const t0 = performance.now();
      await commitLog.flushAsync();
      stats.recordFlush(performance.now() - t0);
    }
    // One at a time: a burst of fdatasyncs would queue the group commit's behind them on the thread pool.
    for (const cq of this.p.consumeQueues()) await cq.flushAsync();
    // The key index persists in the same round (as well as on its own timer), so its
    // progress keeps up with the checkpoint: after a crash the replay starts at the lower of
    // the two, and an index a few rounds behind would double the replay.
    await this.p.indexService.persistAsync();
    const indexOffset = this.p.dispatcher.minReportedOffset() ?? logicsOffset;
    await this.writeCheckpoint({ physicMsgTimestamp, physicOffset: commitLog.getFlushedOffset(), logicsOffset, indexOffset });
  }

  /** Skipped when nothing moved: an idle broker does not fdatasync every interval. */
  private async writeCheckpoint(data: CheckpointData): Promise<void> {
    const last = this.lastCheckpoint;
    if (last && last.physicOffset === data.physicOffset && last.logicsOffset === data.logicsOffset && last.indexOffset === data.indexOffset) return;
    await this.p.checkpoint.write(data);
    this.lastCheckpoint = data;
    this.checkpointedOffset = Math.min(data.physicOffset, data.logicsOffset);
  }

  /** fdatasync everything now. */
  flushAll(): void {
    this.p.commitLog.flush();
    for (const cq of this.p.consumeQueues()) cq.flush();
  }

  /** Clean shutdown: everything on disk, then a checkpoint that covers it all (the next start verifies and replays nothing). */
  flushAllAndCheckpoint(): void {
    const { commitLog } = this.p;
    this.flushAll();
    const end = commitLog.getMaxOffset();
    this.p.checkpoint.writeSync({
      physicMsgTimestamp: commitLog.lastStoreTimestamp,
      physicOffset: commitLog.getFlushedOffset(),
      logicsOffset: end,
      indexOffset: this.p.dispatcher.minReportedOffset() ?? end,
    });
  }
}
