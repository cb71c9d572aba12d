/**
 * Tiered storage as the message store sees it (its StoreTier seam): one object that owns the
 * object store, the manifest, the uploader, the cold-read path and, for durability `s3`,
 * the write-ahead log.
 *
 *   store constructor -> attach()   the uploader over the CommitLog, the write-ahead log
 *   store.open  -> prepare()        a fresh disk under a known brokerName restores from the tier, and
 *                                   so does a disk whose log came back behind the tier (set aside first);
 *                                   the manifest gives the tiered segments, for reads and deletions
 *               -> load, start()    uploads begin; s3: the write-ahead log continues the local log
 *   putMessages -> afterAppend()    s3: resolves once the bytes are in a write-ahead chunk
 *   getMessage  -> readInto()         offsets below the local CommitLog come from the tier
 *   retention   -> canDelete()        a local segment goes only once tiered
 *   deleteTopic -> topicTombstonesStored()  the tier's copy of the deleted topics (tier-tombstones.ts)
 */
import { CirrusError, type Logger } from '@cirrusmq/client/protocol';
import type { AppendResult, CommitLog } from '../store/commit-log';
import type { IndexServiceConfig } from '../store/index/index-service';
import type { MappedFile } from '../store/mapped-file';
import type { StoreTier, StoreTierHooks, TierStats } from '../store/store-tier';
import type { TopicTombstones } from '../store/topic-tombstones';
import type { ObjectStore } from './object-store';
import { claimTierPrefix, type PrefixOwner } from './tier-prefix-owner';
import { probeLocalLogEnd } from './local-log-end';
import { setStoreAside } from './store-set-aside';
import { hasNoLocalCommitLog, restoreFromTier } from './tier-restore';
import { TierTombstoneCopy, readTierTombstones } from './tier-tombstones';
import type { TierManifest, TieredSegment } from './tier-manifest';
import { TierUploadService, type TierUploadConfig } from './tier-upload-service';
import type { SegmentUploader } from './segment-uploader';
import { TieredCommitLog, type TieredReadConfig } from './tiered-commit-log';
import { S3WalService, type S3WalConfig, type WalAckStatus, type WalAppendPart } from './wal/s3-wal-service';
import { deleteWalChunksBefore, listWalChunks, walEndFrom } from './wal/wal-chunks';

export interface TieredStorageConfig {
  storeDir: string;
  commitLogSegmentBytes: number;
  consumeQueueUnitsPerFile: number;
  /** The store's index file sizes, for the key index a restore writes (defaults otherwise). */
  index?: Pick<IndexServiceConfig, 'hashSlotNum' | 'indexNum'>;
  read: TieredReadConfig;
  upload: TierUploadConfig;
  /** Present for durability `s3`. */
  wal?: S3WalConfig;
  /** The broker the prefix must belong to (tier-prefix-owner.ts); checked before anything is read or written there. */
  owner?: PrefixOwner;
  /** The clock of retention and lag (tests). */
  now?: () => number;
  /** Who does the segments' upload work (segment-uploader.ts); the broker's own event loop when absent. */
  segmentUploader?: SegmentUploader;
}

/** Where the uploader puts a segment's objects (segment-upload.ts: segmentKey, extractKey, indexExtractKey). */
const UPLOAD_FOLDERS = ['commitlog/', 'consumequeue/', 'index/'];

/** Local bytes sent to the write-ahead log per request at start (see sendLocalTail). */
const LOCAL_TAIL_PIECE_BYTES = 8 * 1024 * 1024;

export class TieredStorage implements StoreTier {
  readonly tieredLog: TieredCommitLog;
  private uploader: TierUploadService | undefined;
  private wal: S3WalService | undefined;
  private commitLog: CommitLog | undefined;
  private tombstones: TopicTombstones | undefined;
  private tombstoneCopy: TierTombstoneCopy | undefined;
  private manifestLoaded = false;
  private prefixClaimed = false;

  constructor(
    readonly objectStore: ObjectStore,
    readonly manifest: TierManifest,
    private readonly config: TieredStorageConfig,
    private readonly logger: Logger,
  ) {
    this.tieredLog = new TieredCommitLog(objectStore, config.read);
  }

  /**
   * Before the store loads: a store folder without a CommitLog is restored from the tier
   * (the tier must answer: the log's offsets continue from it). Otherwise the local log is
   * served even while the tier is down: the manifest is loaded later, by the uploader, and
   * until then nothing local is deleted and reads below the local log answer TIER_UNAVAILABLE.
   */
  async prepare(): Promise<void> {
    if (hasNoLocalCommitLog(this.config.storeDir)) {
      await this.claimPrefix();
      await this.restore();
      await this.loadManifest();
      return;
    }
    try {
      await this.claimPrefix();
      await this.loadManifest();
    } catch (err) {
      // Another broker's prefix is a configuration error, not an outage: refuse to start.
      if (err instanceof CirrusError && err.code === 'TIER_PREFIX_OWNED') throw err;
      this.logger.warn('tier: manifest unavailable at start; serving the local log, loading it later', { err });
      return;
    }
    await this.restoreIfBehind();
  }

  /**
   * A disk can come back behind the tier: a power loss keeps only synced bytes, while the
   * uploader tiered sealed segments from the page cache (ASYNC_FLUSH), and durability `s3`
   * acknowledges once the write-ahead chunk is stored, before any fdatasync. Serving that
   * log would hand out offsets the tier already holds with other bytes. Instead the local
   * log is set aside whole (store-set-aside.ts: kept, not deleted) and the folder restored
   * as a wiped one is: every tiered segment, and for `s3` every acknowledged byte. Bytes
   * the local log held past the tier are lost only where recovery would have truncated
   * them anyway (they lie past the point where the local log stops verifying).
   */
  private async restoreIfBehind(): Promise<void> {
    const tieredEnd = this.tieredLog.getMaxOffset();
    const walEnd = this.config.wal ? walEndFrom(await listWalChunks(this.objectStore), tieredEnd) : tieredEnd;
    const durableEnd = Math.max(tieredEnd, walEnd);
    if (durableEnd === 0) return;
    const local = probeLocalLogEnd(this.config.storeDir, this.config.commitLogSegmentBytes);
    if (local.end >= durableEnd) return;
    const keptIn = setStoreAside(this.config.storeDir);
    this.logger.error(
      'tier: the local CommitLog came back behind the tier (a lost disk write cache or power loss); its files were moved aside and the store is restored from the tier',
      { localEnd: local.end, localStopped: local.reason, localFilesEnd: local.filesEnd, tieredEnd, walEnd: this.config.wal ? walEnd : undefined, keptIn },
    );
    await this.restore();
    await this.loadManifest();
  }

  /** Once per start; a tier down at start is claimed before the uploader's first pass. */
  private async claimPrefix(): Promise<void> {
    if (this.prefixClaimed || !this.config.owner) return;
    await claimTierPrefix(this.objectStore, this.config.owner);
    this.prefixClaimed = true;
  }

  private async loadManifest(): Promise<void> {
    const segments = await this.manifest.list();
    await this.dropUncommitted(segments.at(-1)?.endOffset ?? 0);
    this.tieredLog.setSegments(segments);
    this.manifestLoaded = true;
  }

  /**
   * Segment objects at or past the manifest's end were put by an earlier run of this broker
   * that died before committing them: garbage, which used to be overwritten by the next
   * upload. Puts never replace an object now, and that segment may come back with other
   * bytes (a restore continues the log at the manifest's end; a power loss rewrites an
   * unsynced tail), so they go first. Only on a claimed prefix: ours, nobody else's data.
   * Write-ahead chunks stay: they are the acknowledged bytes a restore replays.
   */
  private async dropUncommitted(tieredEnd: number): Promise<void> {
    if (!this.prefixClaimed) return;
    const stale: string[] = [];
    for (const folder of UPLOAD_FOLDERS) {
      for (const key of await this.objectStore.list(folder)) {
        const start = /^\d{20}$/.test(key.slice(folder.length)) ? Number(key.slice(folder.length)) : -1;
        if (start >= tieredEnd) stale.push(key);
      }
    }
    if (stale.length === 0) return;
    this.logger.warn('tier: deleting objects of segments uploaded but never committed (an earlier run died before the manifest commit)', {
      tieredEnd,
      keys: stale,
    });
    await this.objectStore.deleteObjects(stale);
  }

  /**
   * The tier's copy of the deleted topics goes into the local table first (a wiped disk has
   * none): the queues rebuilt below leave their records out, and so do the store's replay of
   * the write-ahead chunks and its lookups.
   */
  private async restore(): Promise<void> {
    const tombstones = this.tombstones!;
    const copy = await readTierTombstones(this.objectStore);
    if (copy.key) {
      tombstones.mergeFrom(copy.table);
      this.logger.info('tier restore: deleted topics from the tier', { key: copy.key, topics: copy.table.size });
    }
    const result = await restoreFromTier(
      this.objectStore,
      this.manifest,
      {
        storeDir: this.config.storeDir,
        commitLogSegmentBytes: this.config.commitLogSegmentBytes,
        consumeQueueUnitsPerFile: this.config.consumeQueueUnitsPerFile,
        replayWal: this.config.wal !== undefined,
        index: this.config.index,
        isDeleted: (topic, offset) => tombstones.isDeleted(topic, offset),
      },
      this.logger,
    );
    // Tombstones written while the lost log was longer must not cover the offsets given anew.
    if (result.restored) tombstones.capDeletedBelow(result.logEnd);
  }

  get acksAfterS3(): boolean {
    return this.config.wal !== undefined;
  }

  /** The store calls this from its constructor. */
  attach(commitLog: CommitLog, hooks: StoreTierHooks): void {
    this.commitLog = commitLog;
    const tombstones = hooks.tombstones;
    this.tombstones = tombstones;
    const copy = new TierTombstoneCopy(this.objectStore, () => tombstones.snapshot(), this.logger);
    this.tombstoneCopy = copy;
    // Nothing goes to a prefix this broker has not claimed (it may be another broker's): a
    // change before the claim is written by the pass that claims it.
    tombstones.onChange(() => (this.prefixClaimed || !this.config.owner ? copy.changed() : copy.markChanged()));
    this.uploader = new TierUploadService(
      commitLog,
      this.objectStore,
      this.manifest,
      this.tieredLog,
      this.config.upload,
      {
        onTiered: (segment) => this.onTiered(segment),
        onUploaded: (seconds) => hooks.onSegmentTiered?.(seconds),
        onRetention: () => hooks.trimBelow(this.minOffset(commitLog.getMinOffset())),
        // A manifest the start could not load: loaded before the pass, then what expired while
        // the tier was away is trimmed (the load kept every unit, not knowing).
        beforePass: async () => {
          await this.claimPrefix();
          // Before any segment of this pass is committed: a segment must never be restorable
          // without the tombstones of deletes (and incarnations) that came before its records.
          await copy.sync();
          if (this.manifestLoaded) return;
          await this.loadManifest();
          this.logger.info('tier: manifest loaded', { tieredSegments: this.tieredLog.list().length });
          hooks.trimBelow(this.minOffset(commitLog.getMinOffset()));
        },
        now: this.config.now,
      },
      this.logger,
      this.config.segmentUploader,
    );
    if (this.config.wal) this.wal = new S3WalService(this.objectStore, this.config.wal, this.logger);
  }

  /**
   * The store calls this at the end of its load. With durability `s3`, the write-ahead log
   * continues from what the store holds: chunks already stored are not sent again, and local
   * bytes past them (written but never acknowledged before a crash) are sent first, so the
   * chunks stay one unbroken run.
   */
  async start(): Promise<void> {
    const commitLog = this.commitLog!;
    if (this.wal) {
      const tieredEnd = this.tieredLog.getMaxOffset();
      const walEnd = walEndFrom(await listWalChunks(this.objectStore), tieredEnd);
      const localEnd = commitLog.getMaxOffset();
      if (walEnd > localEnd) {
        // Acknowledged bytes the disk lost, seen only now (the tier did not answer at prepare,
        // which restores such a log): writing on would fork the log. The next start restores.
        throw new CirrusError(
          'INTERNAL',
          `the local CommitLog ends at ${localEnd} but the write-ahead log in ${this.objectStore.location} reaches ${walEnd}: ` +
            `restart with the tier reachable to restore the store folder ${this.config.storeDir} from it (its log is set aside, not deleted)`,
        );
      }
      const durableEnd = Math.min(localEnd, Math.max(tieredEnd, walEnd, commitLog.getMinOffset()));
      this.wal.start(durableEnd);
      if (localEnd > durableEnd) await this.sendLocalTail(durableEnd, localEnd);
    }
    this.uploader!.start();
  }

  /**
   * Sends local bytes [from, to) the write-ahead log lacks, a piece at a time, each acked
   * before the next is read (memory stays at one piece). After a crash that is at most the
   * chunks that were in flight; after switching a broker to durability `s3`, it is every
   * local byte not tiered yet, so the chunks run unbroken from the tier's end. It runs
   * before the store takes sends, as appends must follow the log in order.
   */
  private async sendLocalTail(from: number, to: number): Promise<void> {
    this.logger.info('s3 wal: sending local bytes written after the last chunk', { from, to });
    const commitLog = this.commitLog!;
    for (let offset = from; offset < to; ) {
      const file = commitLog.findMappedFileByOffset(offset);
      if (!file) throw new CirrusError('INTERNAL', `s3 wal: no local segment holds offset ${offset}`);
      const segEnd = file.fileFromOffset + file.fileSize;
      // A full segment goes whole: its filler's zeros (at most a record's size) replay as they are.
      const dataEnd = file.fileFromOffset + file.wrotePosition;
      const pieceEnd = Math.min(dataEnd, to, offset + LOCAL_TAIL_PIECE_BYTES);
      const bytes = file.read(offset - file.fileFromOffset, pieceEnd - offset);
      const sealsSegment = pieceEnd === dataEnd && dataEnd === segEnd && segEnd <= to;
      const status = await this.wal!.append(bytes, [
        { physicalOffset: offset, bufStart: 0, bufEnd: bytes.length, endOffset: sealsSegment ? segEnd : pieceEnd },
      ]);
      if (status !== 'PUT_OK') this.logger.warn('s3 wal: local tail piece not yet stored, going on', { offset, status });
      offset = pieceEnd;
    }
  }

  /** Overall retention keeps every segment that ends past `hold()` (the POP journal after its newest durable snapshot, pending timers' records); holds add up: the lowest wins. */
  holdRetention(hold: () => number): void {
    const uploader = this.uploader;
    if (!uploader) return;
    const before = uploader.retentionHold;
    uploader.retentionHold = () => Math.min(before(), hold());
  }

  /** The first readable offset: the tier's first segment, or the local CommitLog's minimum (0, keeping everything, while the manifest is not loaded). */
  minOffset(localMin: number): number {
    if (!this.manifestLoaded) return 0;
    const tierMin = this.tieredLog.getMinOffset();
    return tierMin === undefined ? localMin : Math.min(tierMin, localMin);
  }

  canDelete(segment: MappedFile): boolean {
    return this.uploader?.canDelete(segment) ?? false;
  }

  /** A segment was sealed: upload it without waiting for the next check. */
  wakeup(): void {
    this.uploader?.wakeup();
  }

  /** Uploads every sealed segment not yet tiered, now (benchmarks, tests); failures reject. */
  async uploadPendingNow(): Promise<void> {
    const before = this.uploader!.stats.uploadFailures;
    await this.uploader!.pass();
    if (this.uploader!.stats.uploadFailures > before) throw new Error('tier upload failed; see the log');
  }

  /** A sealed segment wakes the uploader; durability `s3`: resolves once the append's bytes are in a write-ahead chunk. */
  afterAppend(result: AppendResult): Promise<WalAckStatus> | undefined {
    for (const p of result.parts) if (p.seal) this.uploader?.wakeup();
    const wal = this.wal;
    if (!wal) return undefined;
    const ack = this.walAppend(wal, result);
    // A send right after its topic's incarnation changed here (a delete, a topic created
    // again) is acknowledged only once the tier's copy of that is stored too: a restore
    // without it would take the new incarnation's records for older ones and drop them.
    if (!this.tombstoneCopy!.behind) return ack;
    return Promise.all([ack, this.tombstonesWithin(this.config.wal!.ackTimeoutMs)]).then(([status, stored]) => (stored ? status : 'FLUSH_S3_TIMEOUT'));
  }

  private walAppend(wal: S3WalService, result: AppendResult): Promise<WalAckStatus> {
    const parts: WalAppendPart[] = [];
    for (const p of result.parts) {
      const physicalOffset = p.fileFromOffset + p.filePosition;
      const length = p.bufEnd - p.bufStart;
      if (length === 0 && !p.seal) continue;
      const segmentEnd = p.fileFromOffset + (this.commitLog!.findMappedFileByOffset(p.fileFromOffset)?.fileSize ?? this.config.commitLogSegmentBytes);
      parts.push({ physicalOffset, bufStart: p.bufStart, bufEnd: p.bufEnd, endOffset: p.seal ? segmentEnd : physicalOffset + length });
    }
    return wal.append(result.buffer, parts);
  }

  /**
   * After a delete: with durability `s3` resolves once the tier's copy of the deleted topics
   * holds it (TIER_UNAVAILABLE otherwise; the delete is done here, and a retry is cheap).
   * Other durabilities copy it in the background, and before the next upload pass commits a
   * segment: a disk lost before that restores the topic's tiered records as they were.
   */
  async topicTombstonesStored(): Promise<void> {
    if (!this.wal) return;
    try {
      await this.claimPrefix();
      await this.tombstoneCopy!.sync();
    } catch (err) {
      if (err instanceof CirrusError && (err.code === 'TIER_PREFIX_OWNED' || err.code === 'TIER_OBJECT_CONFLICT')) throw err;
      throw new CirrusError(
        'TIER_UNAVAILABLE',
        `the topic is deleted on this broker, but the tier ${this.objectStore.location} did not store the record of it (durability s3): retry the delete`,
        { cause: err },
      );
    }
  }

  /** Whether the tier's copy of the deleted topics catches up within `ms`. */
  private tombstonesWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.topicTombstonesStored().then(
        () => (clearTimeout(timer), resolve(true)),
        () => (clearTimeout(timer), resolve(false)),
      );
    });
  }

  segmentEnd(offset: number): number | undefined {
    const seg = this.tieredLog.findSegment(offset);
    return seg ? seg.startOffset + seg.objectSize : undefined;
  }

  readInto(offset: number, length: number, into: Buffer, intoOffset: number): Promise<void> {
    if (!this.manifestLoaded)
      return Promise.reject(new CirrusError('TIER_UNAVAILABLE', `the tier ${this.objectStore.location} has not answered since the broker started`));
    return this.tieredLog.readInto(offset, length, into, intoOffset);
  }

  private async onTiered(segment: TieredSegment): Promise<void> {
    if (!this.wal) return;
    try {
      await deleteWalChunksBefore(this.objectStore, segment.endOffset, this.logger);
    } catch (err) {
      // Leftover chunks cost storage, not correctness: the next tiered segment deletes them.
      this.logger.warn('s3 wal: could not delete chunks a tiered segment covers', { endOffset: segment.endOffset, err });
    }
  }

  stats(): TierStats {
    const u = this.uploader;
    const c = this.tieredLog.cache;
    return {
      location: this.objectStore.location,
      tieredSegments: this.tieredLog.list().length,
      tieredMinOffset: this.tieredLog.getMinOffset() ?? 0,
      tieredMaxOffset: this.tieredLog.getMaxOffset(),
      tieringLagBytes: u?.lagBytes() ?? 0,
      tieringLagSeconds: u?.lagSeconds() ?? 0,
      segmentsUploaded: u?.stats.segmentsUploaded ?? 0,
      bytesUploaded: u?.stats.bytesUploaded ?? 0,
      lastUploadBytesPerSec: u?.stats.lastUploadBytesPerSec ?? 0,
      uploadFailures: u?.stats.uploadFailures ?? 0,
      cacheHits: c.stats.hits,
      cacheMisses: c.stats.misses,
      cacheHitRatio: c.hitRatio(),
      cacheBytes: c.stats.bytes,
      prefetches: c.stats.prefetches,
      s3Requests: { ...this.objectStore.requestCounts },
      wal: this.wal ? { ...this.wal.stats } : undefined,
    };
  }

  /** Sends still waiting for the write-ahead log get their answer; uploads stop. */
  async shutdown(): Promise<void> {
    await this.wal?.shutdown();
    await this.uploader?.shutdown();
    this.objectStore.close();
  }

  /** Tests: as kill -9 leaves it (nothing more uploaded, nobody answered). */
  async abandon(): Promise<void> {
    this.wal?.abandon();
    await this.uploader?.shutdown();
    this.objectStore.close();
  }
}
