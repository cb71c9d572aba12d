/**
 * Retention (RocketMQ's CleanCommitLogService): every cleanIntervalMs, deletes CommitLog
 * segments, oldest first, while the oldest one is
 *   - older than fileReservedTime, judged by the segment file's last modification time
 *     (as RocketMQ: the time of its last write, so of its last record, known without
 *     reading it; a copied or restored file gets a new one), or
 *   - beyond the local disk budget (the CommitLog's segment bytes; 0 = no budget),
 * and never the active (last) segment, a segment with unsynced bytes or a flush in flight,
 * nor one the `canDelete` hook holds back: the seam where tiering makes deletion wait until
 * the segment is in S3. Deletion stops at the first segment kept, so the log stays one
 * contiguous run of segments. Then `onDeleted(newMinOffset)` trims what points below it
 * (clean-consume-queue-service.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@cirrusmq/client/protocol';
import { ServiceThread } from '../service-thread';
import type { CommitLog } from './commit-log';
import type { MappedFile } from './mapped-file';
import { STORE_DEFAULTS } from './store-defaults';

export interface CleanCommitLogConfig {
  /** Segments whose last write is older than this are deleted (RocketMQ's fileReservedTime, 72 h). */
  fileReservedTimeMs: number;
  /** The CommitLog's local bytes are kept under this, oldest segments deleted first; 0 = unlimited. */
  diskBudgetBytes: number;
  cleanIntervalMs: number;
}

export const DEFAULT_CLEAN_CONFIG: CleanCommitLogConfig = {
  fileReservedTimeMs: STORE_DEFAULTS.fileReservedTimeMs,
  diskBudgetBytes: STORE_DEFAULTS.diskBudgetBytes,
  cleanIntervalMs: STORE_DEFAULTS.cleanIntervalMs,
};

export interface CleanCommitLogHooks {
  /** Whether a sealed segment may go (tiering: only once it is in S3). Default: yes. Settable later via `canDelete`. */
  canDelete?: (segment: MappedFile) => boolean;
  /** Called after segments were deleted, with the CommitLog's new minimum offset. */
  onDeleted?: (minOffset: number) => void;
  /** The clock (tests). */
  now?: () => number;
}

export interface CleanResult {
  deletedSegments: number;
  minOffset: number;
}

/** A ServiceThread: one check per cleanIntervalMs; a failed check is logged and the next runs on time. */
export class CleanCommitLogService extends ServiceThread {
  /** The seam for tiering: a segment is deleted only when this says so (once it is in S3). */
  canDelete: (segment: MappedFile) => boolean;

  constructor(
    private readonly commitLog: CommitLog,
    private readonly config: CleanCommitLogConfig,
    private readonly hooks: CleanCommitLogHooks,
    logger: Logger,
  ) {
    super(logger);
    this.canDelete = hooks.canDelete ?? (() => true);
  }

  getServiceName(): string {
    return 'CleanCommitLogService';
  }

  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForRunning(this.config.cleanIntervalMs, signal);
      if (signal.aborted) return;
      try {
        this.run();
      } catch (e) {
        this.logger.error('retention: clean failed', { err: e });
      }
    }
  }

  /** One check: deletes what retention allows, then trims the indexes. */
  run(): CleanResult {
    const files = this.commitLog.mappedFileQueue.mappedFiles;
    const now = (this.hooks.now ?? Date.now)();
    const canDelete = this.canDelete;
    const budget = this.config.diskBudgetBytes;
    let total = 0;
    for (const f of files) total += f.fileSize;
    let count = 0;
    const reasons: string[] = [];
    for (let i = 0; i < files.length - 1; i++) {
      const f = files[i]!;
      const expired = now - lastModified(f) >= this.config.fileReservedTimeMs;
      const overBudget = budget > 0 && total > budget;
      if (!expired && !overBudget) break;
      if (f.isDirty() || !canDelete(f)) break;
      reasons.push(`${path.basename(f.fileName)}:${expired ? 'expired' : 'over budget'}`);
      total -= f.fileSize;
      count++;
    }
    if (count === 0) return { deletedSegments: 0, minOffset: this.commitLog.getMinOffset() };
    const deleted = this.commitLog.mappedFileQueue.deleteFirstFiles(count);
    const minOffset = this.commitLog.getMinOffset();
    this.logger.info('retention: deleted commitlog segments', { deleted, segments: reasons, minOffset, localBytes: total });
    this.hooks.onDeleted?.(minOffset);
    return { deletedSegments: deleted, minOffset };
  }
}

function lastModified(f: MappedFile): number {
  try {
    return fs.statSync(f.fileName).mtimeMs;
  } catch {
    // Gone from under us: not ours to judge; keep it (and everything after it).
    return Number.POSITIVE_INFINITY;
  }
}
