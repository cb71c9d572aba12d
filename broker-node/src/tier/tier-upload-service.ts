/**
 * Tiers sealed CommitLog segments to the object store, in the background and in log order:
 *
 *   sealed local segment -> scan (verify every record, build the ConsumeQueue extract and
 *                           the index extract: key hashes for lookups after a restore)
 *     -> upload both extracts, and the segment's data bytes (multipart)
 *     -> commit the manifest entry  <- only now is the segment tiered
 *     -> onTiered (the local copy may now be deleted; s3 write-ahead chunks before it go)
 *
 * A failed step is retried from the start of the segment with exponential backoff; the
 * produce path never waits for any of it, and the upload is paced (uploadBytesPerSec, in
 * small steps that give the event loop back: upload-pacer.ts) so it never runs flat out
 * beside the sends on the broker's cores and disk. Overall retention (retentionMs) removes tiered
 * segments whose last record is older, manifest entry first (an object without an entry
 * is garbage; an entry without an object would be a broken read).
 *
 * Every minute it logs `tier status` with tieringLagSeconds, which the CloudWatch metric
 * filter of the monitoring stack turns into the TieringLagSeconds metric.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../periodic-service';
import { ServiceThread } from '../service-thread';
import type { CommitLog } from '../store/commit-log';
import type { MappedFile } from '../store/mapped-file';
import type { ObjectStore } from './object-store';
import { extractKey, indexExtractKey, segmentKey } from './segment-upload';
import { InlineSegmentUploader, type SegmentUploader } from './segment-uploader';
import type { TieredCommitLog } from './tiered-commit-log';
import type { TieredSegment, TierManifest } from './tier-manifest';

export interface TierUploadConfig {
  /** How often to look for sealed segments (a seal also wakes it). */
  checkIntervalMs: number;
  /** false: upload only when asked (pass()); the benchmark times uploads alone this way. */
  autoUpload?: boolean;
  /** Tiered segments whose last record is older than this are deleted from the store; 0 = keep forever. */
  retentionMs: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
  statusLogIntervalMs: number;
  /**
   * A segment's bytes go to the tier at most this fast (and its verifying scan keeps the same
   * pace), so an upload takes its CPU and disk in small steps beside the send path instead of
   * flat out; 0 = no limit (still in small steps). A backlog (another sealed segment waiting)
   * goes flat out. See upload-pacer.ts.
   */
  uploadBytesPerSec: number;
}

/** 64 MiB/s: a 1 GiB segment in 16 s; see CIRRUSMQ_TIER_UPLOAD_BYTES_PER_SEC in config.ts for why. */
export const DEFAULT_UPLOAD_BYTES_PER_SEC = 64 * 1024 * 1024;

export const DEFAULT_TIER_UPLOAD_CONFIG: TierUploadConfig = {
  uploadBytesPerSec: DEFAULT_UPLOAD_BYTES_PER_SEC,
  checkIntervalMs: 5_000,
  retentionMs: 0,
  retryInitialDelayMs: 1_000,
  retryMaxDelayMs: 60_000,
  statusLogIntervalMs: 60_000,
};

export interface TierUploadHooks {
  /** After a segment's manifest entry is committed. */
  onTiered?: (segment: TieredSegment) => Promise<void> | void;
  /** After each segment is tiered, with the seconds it took (for a latency histogram). */
  onUploaded?: (seconds: number) => void;
  /** After overall retention removed tiered segments: the new first tiered offset (or the local minimum). */
  onRetention?: (removed: TieredSegment[]) => void;
  /** Before each pass (a failure fails the pass, which backs off). */
  beforePass?: () => Promise<void>;
  now?: () => number;
}

export interface TierUploadStats {
  segmentsUploaded: number;
  bytesUploaded: number;
  uploadFailures: number;
  /** Consecutive failures of the segment being retried (0 when healthy). */
  failingFor: number;
  lastUploadSeconds: number;
  /** Bytes per second over the last upload. */
  lastUploadBytesPerSec: number;
  segmentsDeletedByRetention: number;
}

/** Shutdown waits this long for an upload in flight. */
const SHUTDOWN_WAIT_MS = 10_000;

/** The spill folder of index extracts being built, beside the store's commitlog/ (never read at start). */
const SPILL_DIR = 'tier-upload';

/**
 * A ServiceThread: a pass every checkIntervalMs, or at once on wakeup (a seal; a wakeup during
 * a pass runs the next right after it). After a failure the wait is the backoff instead, and
 * wakeups before it is over run nothing.
 */
export class TierUploadService extends ServiceThread {
  private readonly statusService: PeriodicService;
  /** Set by shutdown: a pass in flight (the loop's or a caller's) uploads no further segment. */
  private closed = false;
  private nextAttemptAt = 0;
  private passChain: Promise<void> = Promise.resolve();
  /** The end of the last segment overall retention removed from the tier. */
  private expiredBelow = 0;
  /** Set when the tier holds objects this broker did not write: uploads stop for good (a restart re-checks). */
  private halted: Error | undefined;
  readonly stats: TierUploadStats = {
    segmentsUploaded: 0,
    bytesUploaded: 0,
    uploadFailures: 0,
    failingFor: 0,
    lastUploadSeconds: 0,
    lastUploadBytesPerSec: 0,
    segmentsDeletedByRetention: 0,
  };

  constructor(
    private readonly commitLog: CommitLog,
    private readonly objectStore: ObjectStore,
    private readonly manifest: TierManifest,
    readonly tieredLog: TieredCommitLog,
    private readonly config: TierUploadConfig,
    private readonly hooks: TierUploadHooks,
    logger: Logger,
    /** Who does each segment's upload work; the manifest commit is always this service's. */
    private readonly segmentUploader: SegmentUploader = new InlineSegmentUploader(objectStore),
  ) {
    super(logger);
    this.statusService = new PeriodicService('TierStatusLog', config.statusLogIntervalMs, () => this.logStatus(), logger);
  }

  getServiceName(): string {
    return 'TierUploadService';
  }

  private now(): number {
    return (this.hooks.now ?? Date.now)();
  }

  /** Loads the manifest (the tiered log's segments). Call before the store serves reads. */
  async loadManifest(): Promise<void> {
    this.tieredLog.setSegments(await this.manifest.list());
  }

  override start(): void {
    // Spill files a crash left behind: each upload writes its own again.
    fs.rmSync(this.spillDir(), { recursive: true, force: true });
    this.closed = false;
    this.statusService.start();
    if (this.config.autoUpload === false) return;
    this.segmentUploader.start();
    super.start();
    // The first pass runs at once: segments sealed before a restart wait for no interval.
    this.wakeup();
  }

  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const backoffMs = this.nextAttemptAt - this.now();
      await this.waitForRunning(backoffMs > 0 ? backoffMs : this.config.checkIntervalMs, signal);
      if (signal.aborted) return;
      if (this.now() < this.nextAttemptAt) continue;
      await this.pass();
    }
  }

  private spillDir(): string {
    return path.join(path.dirname(this.commitLog.mappedFileQueue.storePath), SPILL_DIR);
  }

  /** Whether a local segment may be deleted: once it is tiered, or past the overall retention (its tiered copy is gone already). */
  canDelete(segment: MappedFile): boolean {
    return this.tieredLog.isTiered(segment.fileFromOffset) || segment.fileFromOffset + segment.fileSize <= this.expiredBelow;
  }

  /** Sealed local segments not yet tiered, oldest first. */
  pendingSegments(): MappedFile[] {
    return this.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull() && !this.tieredLog.isTiered(f.fileFromOffset));
  }

  /** One pass: upload what is pending, in order, then apply overall retention. Failures back off. Passes never overlap. */
  pass(): Promise<void> {
    const next = this.passChain.then(() => this.doPass());
    this.passChain = next;
    return next;
  }

  private async doPass(): Promise<void> {
    if (this.halted) return;
    try {
      await this.hooks.beforePass?.();
      for (const file of this.pendingSegments()) {
        if (this.closed) return;
        await this.upload(file);
      }
      this.stats.failingFor = 0;
      await this.applyRetention();
    } catch (err) {
      this.stats.uploadFailures++;
      const code = (err as { code?: string }).code;
      if (code === 'TIER_OBJECT_CONFLICT' || code === 'TIER_PREFIX_OWNED') {
        // Another writer's bytes under our prefix: retrying cannot help, and never overwriting
        // them is the point. Local retention keeps every untiered segment meanwhile.
        this.halted = err as Error;
        this.logger.error(
          'tier: UPLOADS STOPPED: the tier holds objects this broker did not write; untiered segments stay on local disk until an operator resolves it and restarts the broker',
          { err },
        );
        return;
      }
      this.stats.failingFor++;
      const delay = Math.min(this.config.retryMaxDelayMs, this.config.retryInitialDelayMs * 2 ** (this.stats.failingFor - 1));
      this.nextAttemptAt = this.now() + delay;
      // The loop's next wait is this delay (runLoop), not the check interval.
      this.logger.warn('tier: upload failed, will retry', { attempt: this.stats.failingFor, retryInMs: delay, err });
    }
  }

  /**
   * The segment goes up whole (its BLANK filler is at most one record's size of zeros) while
   * the scan verifies it and builds the extracts (segment-upload.ts); a scan that finds damage
   * fails the pass before the manifest commit, so the object is never counted (the next pass
   * overwrites it).
   */
  private async upload(file: MappedFile): Promise<void> {
    const t0 = performance.now();
    const start = file.fileFromOffset;
    const { crc32, scan, indexEntries } = await this.segmentUploader.upload(
      { fileName: file.fileName, fileFromOffset: start, fileSize: file.fileSize },
      this.spillDir(),
      this.uploadRate(),
    );
    const segment: TieredSegment = {
      startOffset: start,
      endOffset: start + file.fileSize,
      commitLogKey: segmentKey(start),
      consumeQueueKey: extractKey(start),
      objectSize: file.fileSize,
      crc32,
      firstStoreTimestamp: scan.firstStoreTimestamp,
      lastStoreTimestamp: scan.lastStoreTimestamp,
      tieredAt: this.now(),
    };
    await this.manifest.commit(segment);
    this.tieredLog.add(segment);
    const seconds = (performance.now() - t0) / 1000;
    this.stats.segmentsUploaded++;
    this.stats.bytesUploaded += file.fileSize;
    this.stats.lastUploadSeconds = seconds;
    this.stats.lastUploadBytesPerSec = seconds > 0 ? file.fileSize / seconds : 0;
    this.hooks.onUploaded?.(seconds);
    this.logger.info('tier: segment tiered', {
      startOffset: start,
      bytes: file.fileSize,
      dataBytes: scan.dataBytes,
      records: scan.records,
      indexEntries,
      seconds: Number(seconds.toFixed(3)),
    });
    await this.hooks.onTiered?.(segment);
  }

  /**
   * The upload's pace: uploadBytesPerSec while no other sealed segment waits. A writer faster
   * than the rate would otherwise pile up untiered segments on local disk without end, so a
   * backlog goes up flat out (in small steps all the same), and the pace returns once the
   * uploader has caught up.
   */
  private uploadRate(): number {
    return this.pendingSegments().length > 1 ? 0 : this.config.uploadBytesPerSec;
  }

  /** A seal wakes the uploader; one during an upload may form a backlog, which changes its pace. */
  override wakeup(): void {
    super.wakeup();
    this.segmentUploader.setRate(this.uploadRate());
  }

  /** Overall retention deletes no segment that ends past this CommitLog offset (the POP journal still needed: consumer/pop-state-keeper.ts). */
  retentionHold: () => number = () => Number.POSITIVE_INFINITY;

  private async applyRetention(): Promise<void> {
    if (this.config.retentionMs <= 0) return;
    const cutoff = this.now() - this.config.retentionMs;
    const hold = this.retentionHold();
    const removed: TieredSegment[] = [];
    for (const seg of this.tieredLog.list()) {
      if (seg.lastStoreTimestamp >= cutoff || seg.endOffset > hold) break;
      await this.manifest.remove(seg.startOffset);
      this.tieredLog.remove(seg.startOffset);
      await this.objectStore.deleteObjects([seg.commitLogKey, seg.consumeQueueKey, indexExtractKey(seg.startOffset)]);
      this.expiredBelow = Math.max(this.expiredBelow, seg.endOffset);
      removed.push(seg);
    }
    if (removed.length === 0) return;
    this.stats.segmentsDeletedByRetention += removed.length;
    this.logger.info('tier: retention deleted tiered segments', { segments: removed.length, upToOffset: removed.at(-1)!.endOffset });
    this.hooks.onRetention?.(removed);
  }

  /** Bytes of the log not in tiered segments (the active segment included). */
  lagBytes(): number {
    return Math.max(0, this.commitLog.getMaxOffset() - Math.max(this.tieredLog.getMaxOffset(), this.commitLog.getMinOffset()));
  }

  /** How long the oldest sealed segment has waited for its upload (0 when none waits). */
  lagSeconds(): number {
    const oldest = this.pendingSegments()[0];
    if (!oldest) return 0;
    return Math.max(0, (this.now() - sealedAt(oldest)) / 1000);
  }

  private logStatus(): void {
    this.logger.info('tier status', {
      tieringLagSeconds: Math.round(this.lagSeconds()),
      tieringLagBytes: this.lagBytes(),
      tieredSegments: this.tieredLog.list().length,
      pendingSegments: this.pendingSegments().length,
      uploadFailures: this.stats.uploadFailures,
      ...(this.halted ? { uploadsStopped: this.halted.message } : {}),
    });
  }

  override async shutdown(): Promise<void> {
    this.closed = true;
    await this.statusService.shutdown();
    // An upload in flight may finish or not: its segment stays local until its entry is committed.
    const stopped = super.shutdown().catch(() => {});
    await Promise.race([stopped, new Promise((r) => setTimeout(r, SHUTDOWN_WAIT_MS).unref())]);
    await this.segmentUploader.close();
  }
}

/** When a sealed segment got its last write: the file's modification time. */
function sealedAt(file: MappedFile): number {
  try {
    return fs.statSync(file.fileName).mtimeMs;
  } catch {
    return Date.now();
  }
}
