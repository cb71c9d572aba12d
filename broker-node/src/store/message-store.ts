/**
 * DefaultMessageStore: the CommitLog, the ConsumeQueues that index it, the dispatcher that
 * builds them and the flush service, behind the MessageStore interface the server uses.
 *
 *   putMessages(batch) -> CommitLog.putMessages (one write) -> Dispatcher -> ConsumeQueue
 *   getMessage(topic, queueId, offset, filter) -> get-message.ts: ConsumeQueue units -> tag filter -> CommitLog reads
 *   queryMessage(topic, key) / queryMessageById(id) -> index/query-message-service.ts
 *   retention: CleanCommitLogService -> CleanConsumeQueueService (ConsumeQueues, index)
 *
 * Memory stays flat as the log grows: the store keeps one entry per topic-queue
 * (topicQueueTable, ConsumeQueue objects), never per message; reads go to the files.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SendBatch } from '../../../client/src/codec/send-batch';
import { CirrusError } from '../../../client/src/errors';
import type { Logger } from '../../../client/src/logger';
import { CommitLog } from './commit-log';
import { ConsumeQueue } from './consume-queue';
import { CommitLogDispatcherBuildConsumeQueue, Dispatcher } from './dispatcher';
import { CleanCommitLogService, DEFAULT_CLEAN_CONFIG } from './clean-commit-log-service';
import { CleanConsumeQueueService } from './clean-consume-queue-service';
import type { MessageFilter } from './filter/message-filter';
import { getMessageFromQueue } from './get-message';
import { DEFAULT_INDEX_CONFIG, IndexService } from './index/index-service';
import { queryMessageById, queryMessageByKey, type QueryMessageResult } from './index/query-message-service';
import { FLUSH_ROUND_BYTES, FlushRealTimeService, type FlushCommitLogService, type FlushDiskType } from './flush-service';
import { GroupCommitService, type PutMessageStatus } from './group-commit-service';
import type { DataSync } from './mapped-file';
import { StoreCheckpoint, type CheckpointData, type StoredCheckpoint } from './store-checkpoint';
import { StoreStatsService } from './store-stats-service';

export interface MessageStoreConfig {
  storeDir: string;
  commitLogSegmentBytes: number;
  consumeQueueUnitsPerFile: number;
  flushIntervalMs: number;
  /** ASYNC_FLUSH (default): ack after the write; SYNC_FLUSH: ack after a group-commit fdatasync (flush-service.ts). */
  flushDiskType?: FlushDiskType;
  /** SYNC_FLUSH: a send not on disk within this answers FLUSH_DISK_TIMEOUT (default 5000, RocketMQ's syncFlushTimeout). */
  syncFlushTimeoutMs?: number;
  /** Zero-fill the next CommitLog segment ahead of time (default false: sparse; allocate-mapped-file-service.ts has the measurements). */
  preallocateSegments?: boolean;
  /** The fdatasync of the CommitLog and the checkpoint: tests inject a counting or slow one. */
  dataSync?: DataSync;
  /** Index files (IndexService): slots and entries per file; defaults in DEFAULT_INDEX_CONFIG. */
  indexHashSlotNum?: number;
  indexNum?: number;
  /** Retention (CleanCommitLogService); defaults in DEFAULT_CLEAN_CONFIG (72 h, no budget, 10 s). */
  fileReservedTimeMs?: number;
  diskBudgetBytes?: number;
  cleanIntervalMs?: number;
}

export interface PutMessageResult {
  /** PUT_OK, or FLUSH_DISK_TIMEOUT under SYNC_FLUSH when the fdatasync missed syncFlushTimeoutMs (the data is written, not yet known durable). */
  status: PutMessageStatus;
  /** Queue offset of the batch's first record; the rest follow contiguously. */
  queueOffset: number;
  count: number;
  /** CommitLog offset of the batch's first record. */
  commitLogOffset: number;
}

export interface GetMessageResult {
  /** Raw stored records, back to back (decodeRecords reads them). */
  records: Buffer;
  count: number;
  /** The queue offset to read from next. */
  nextOffset: number;
  minOffset: number;
  maxOffset: number;
}

export interface StoreStats {
  putMessagesTotal: number;
  putBytesTotal: number;
  /** Over the last 10 s. */
  putMessagesPerSec: number;
  putBytesPerSec: number;
  flushDiskType: FlushDiskType;
  /** CommitLog fdatasyncs (group commits under SYNC_FLUSH, timer flushes under ASYNC_FLUSH) and their latency over the last 1024. */
  flushTotal: number;
  flushLatencyP50Ms: number;
  flushLatencyP99Ms: number;
  flushLatencyMaxMs: number;
  /** Sends answered FLUSH_DISK_TIMEOUT. */
  flushDiskTimeoutTotal: number;
  commitLogMinOffset: number;
  commitLogMaxOffset: number;
  /** Everything before it is on disk. */
  commitLogFlushedOffset: number;
  /** The last checkpoint written: CommitLog flushed, ConsumeQueue and index progress. */
  checkpointPhysicOffset: number;
  checkpointLogicsOffset: number;
  checkpointIndexOffset: number;
}

/** The store as the broker's server sees it: the seam for tiered and other stores. */
export interface MessageStore {
  /** Appends; under SYNC_FLUSH resolves once the batch is on disk (or FLUSH_DISK_TIMEOUT). */
  putMessages(batch: SendBatch): Promise<PutMessageResult>;
  /** Throws OFFSET_BELOW_MINIMUM (details.minOffset) for an offset retention deleted. */
  getMessage(topic: string, queueId: number, offset: number, maxMsgs: number, filter?: MessageFilter): GetMessageResult;
  /** Messages of `topic` with `key` among their KEYS stored within [begin, end] (ms): the newest maxNum, oldest first. */
  queryMessage(topic: string, key: string, maxNum: number, begin: number, end: number): QueryMessageResult;
  /** The stored copies of a message by its id (UNIQ_KEY). */
  queryMessageById(messageId: string, maxNum: number): QueryMessageResult;
  stats(): StoreStats;
  isOpen(): boolean;
  flush(): void;
  shutdown(): Promise<void>;
}

export { MAX_READ_BYTES } from './get-message';
export type { QueryMessageResult } from './index/query-message-service';

const EMPTY = Buffer.alloc(0);
const queueKey = (topic: string, queueId: number): string => `${topic}-${queueId}`;

export class DefaultMessageStore implements MessageStore {
  readonly commitLog: CommitLog;
  private readonly consumeQueueTable = new Map<string, Map<number, ConsumeQueue>>();
  /** Next queue offset per topic-queue ("topic-queueId"), as RocketMQ's topicQueueTable. */
  readonly topicQueueTable = new Map<string, number>();
  private readonly cqRoot: string;
  private readonly dispatcher: Dispatcher;
  readonly indexService: IndexService;
  readonly cleanCommitLogService: CleanCommitLogService;
  private readonly flushService: FlushCommitLogService;
  /** SYNC_FLUSH only. */
  private readonly groupCommit: GroupCommitService | undefined;
  private readonly storeCheckpoint: StoreCheckpoint;
  private lastCheckpoint: CheckpointData | undefined;
  /** The CommitLog offset the last checkpoint covers (logics progress): how far the checkpoint trails. */
  private checkpointedOffset = 0;
  readonly flushDiskType: FlushDiskType;
  readonly storeStats = new StoreStatsService();
  private open = false;

  constructor(
    private readonly config: MessageStoreConfig,
    private readonly logger: Logger,
  ) {
    this.flushDiskType = config.flushDiskType ?? 'ASYNC_FLUSH';
    this.commitLog = new CommitLog(config.storeDir, config.commitLogSegmentBytes, logger, {
      dataSync: config.dataSync,
      preallocate: config.preallocateSegments ?? false,
    });
    this.storeCheckpoint = new StoreCheckpoint(config.storeDir, config.dataSync);
    this.cqRoot = path.join(config.storeDir, 'consumequeue');
    this.indexService = new IndexService(
      config.storeDir,
      {
        hashSlotNum: config.indexHashSlotNum ?? DEFAULT_INDEX_CONFIG.hashSlotNum,
        indexNum: config.indexNum ?? DEFAULT_INDEX_CONFIG.indexNum,
        // The index is rebuildable: persisting it less often than a very short flush interval
        // costs a little more replay after a crash, not data, and keeps its fdatasyncs off the log's.
        persistIntervalMs: Math.max(config.flushIntervalMs, 100),
      },
      logger,
    );
    this.dispatcher = new Dispatcher([new CommitLogDispatcherBuildConsumeQueue((t, q) => this.findConsumeQueue(t, q), logger), this.indexService], logger);
    const cleanConsumeQueue = new CleanConsumeQueueService(() => this.allConsumeQueues(), this.indexService, logger);
    this.cleanCommitLogService = new CleanCommitLogService(
      this.commitLog,
      {
        fileReservedTimeMs: config.fileReservedTimeMs ?? DEFAULT_CLEAN_CONFIG.fileReservedTimeMs,
        diskBudgetBytes: config.diskBudgetBytes ?? DEFAULT_CLEAN_CONFIG.diskBudgetBytes,
        cleanIntervalMs: config.cleanIntervalMs ?? DEFAULT_CLEAN_CONFIG.cleanIntervalMs,
      },
      { onDeleted: (min) => cleanConsumeQueue.run(min) },
      logger,
    );
    this.flushService = new FlushRealTimeService(() => this.flushRound(), config.flushIntervalMs, logger);
    if (this.flushDiskType === 'SYNC_FLUSH') {
      this.groupCommit = new GroupCommitService(this.commitLog, config.syncFlushTimeoutMs ?? 5_000, this.storeStats, logger);
    }
  }

  /**
   * Opens and recovers (after a clean shutdown or a kill -9 alike):
   *   1. CommitLog: verify records from the checkpoint's flushed offset, truncate a torn tail;
   *   2. ConsumeQueues: find each one's last unit, drop units that point past the log;
   *   3. replay the log from the lowest index progress (checkpoint, index) to every dispatcher;
   *   4. topicQueueTable from the ConsumeQueues.
   * What it reads: the checkpoint, the log from min(checkpoint offsets) to its end (after a
   * crash, what was written since the last flush round: at most about FLUSH_ROUND_BYTES or
   * one flush interval of writes; nothing after a clean shutdown), and the tail of the last
   * file of each ConsumeQueue. Never the whole log, unless there is no checkpoint.
   */
  load(): this {
    fs.mkdirSync(this.config.storeDir, { recursive: true });
    const checkpoint = this.storeCheckpoint.loaded;
    this.commitLog.load();
    const maxPhysical = this.commitLog.recover(checkpoint?.physicOffset);
    this.commitLog.lastStoreTimestamp = checkpoint?.physicMsgTimestamp ?? 0;
    this.checkpointedOffset = Math.min(checkpoint?.physicOffset ?? 0, maxPhysical);
    this.loadConsumeQueues();
    for (const cq of this.allConsumeQueues()) {
      cq.recover(checkpoint?.logicsOffset ?? 0);
      cq.truncateDirtyLogicFiles(maxPhysical);
      cq.correctMinOffset(this.commitLog.getMinOffset());
    }
    // The index replays from its own progress when it is behind (its files were deleted, or
    // persisted less often than the ConsumeQueues); records it holds already are skipped.
    this.indexService.load(maxPhysical);
    this.dispatcher.reput(this.commitLog, this.reputFromOffset(checkpoint, maxPhysical));
    this.commitLog.prepareNextSegment();
    for (const cq of this.allConsumeQueues()) this.topicQueueTable.set(queueKey(cq.topic, cq.queueId), cq.getMaxOffsetInQueue());
    this.open = true;
    this.flushService.start();
    this.indexService.start();
    this.cleanCommitLogService.start();
    this.logger.info('message store loaded', {
      storeDir: this.config.storeDir,
      commitLogMinOffset: this.commitLog.getMinOffset(),
      commitLogMaxOffset: maxPhysical,
      consumeQueues: this.topicQueueTable.size,
    });
    return this;
  }

  /**
   * Where the startup replay begins: the lowest progress of any index.
   *   ConsumeQueues: the checkpoint's LOGICS_OFFSET (their units before it were synced before
   *     it was written), or less when no ConsumeQueue reaches that far (their files were
   *     deleted to force a rebuild, or lost): the highest record end any of them holds.
   *   An index with its own files: the checkpoint's INDEX_OFFSET, and what it reports now.
   * Without a checkpoint nothing is known, so the whole log is replayed. Every dispatcher
   * skips what it holds already.
   */
  private reputFromOffset(checkpoint: StoredCheckpoint | undefined, maxPhysical: number): number {
    const minPhysical = this.commitLog.getMinOffset();
    let cqHighest = 0;
    for (const cq of this.allConsumeQueues()) cqHighest = Math.max(cqHighest, cq.getMaxPhysicOffset());
    let from = checkpoint ? Math.min(checkpoint.logicsOffset, cqHighest, checkpoint.indexOffset) : minPhysical;
    const reported = this.dispatcher.minReportedOffset();
    if (reported !== undefined) from = Math.min(from, reported);
    return Math.min(Math.max(from, minPhysical), maxPhysical);
  }

  private loadConsumeQueues(): void {
    if (!fs.existsSync(this.cqRoot)) return;
    for (const topic of fs.readdirSync(this.cqRoot)) {
      const topicDir = path.join(this.cqRoot, topic);
      if (!fs.statSync(topicDir).isDirectory()) continue;
      for (const q of fs.readdirSync(topicDir)) {
        if (!/^\d+$/.test(q)) continue;
        const cq = new ConsumeQueue(topic, Number(q), this.cqRoot, this.config.consumeQueueUnitsPerFile);
        cq.load();
        this.tableFor(topic).set(cq.queueId, cq);
      }
    }
  }

  private tableFor(topic: string): Map<number, ConsumeQueue> {
    let m = this.consumeQueueTable.get(topic);
    if (!m) {
      m = new Map();
      this.consumeQueueTable.set(topic, m);
    }
    return m;
  }

  private *allConsumeQueues(): Iterable<ConsumeQueue> {
    for (const m of this.consumeQueueTable.values()) yield* m.values();
  }

  /** The ConsumeQueue of a topic-queue, created on first use. */
  findConsumeQueue(topic: string, queueId: number): ConsumeQueue {
    const m = this.tableFor(topic);
    let cq = m.get(queueId);
    if (!cq) {
      cq = new ConsumeQueue(topic, queueId, this.cqRoot, this.config.consumeQueueUnitsPerFile);
      cq.load();
      m.set(queueId, cq);
    }
    return cq;
  }

  private getConsumeQueue(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.consumeQueueTable.get(topic)?.get(queueId);
  }

  isOpen(): boolean {
    return this.open;
  }

  private checkOpen(): void {
    if (!this.open) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the message store is shut down');
  }

  /**
   * Write, index, then (SYNC_FLUSH) wait for the group commit. Everything up to the wait is
   * synchronous, so appends keep the order of the calls and each wait covers its own bytes.
   */
  async putMessages(batch: SendBatch): Promise<PutMessageResult> {
    this.checkOpen();
    const key = queueKey(batch.topic, batch.queueId);
    const queueOffset = this.topicQueueTable.get(key) ?? 0;
    const result = this.commitLog.putMessages(batch, queueOffset, Date.now());
    this.topicQueueTable.set(key, queueOffset + result.count);
    this.dispatcher.dispatchAppend(result);
    this.storeStats.recordPut(result.count, result.bytes);
    const nextOffset = this.commitLog.getMaxOffset();
    if (nextOffset - this.checkpointedOffset >= FLUSH_ROUND_BYTES) this.flushService.wakeup();
    const status = this.groupCommit ? await this.groupCommit.waitForFlush(nextOffset) : 'PUT_OK';
    return { status, queueOffset, count: result.count, commitLogOffset: result.commitLogOffset };
  }

  getMessage(topic: string, queueId: number, offset: number, maxMsgs: number, filter?: MessageFilter): GetMessageResult {
    this.checkOpen();
    const cq = this.getConsumeQueue(topic, queueId);
    if (!cq) return { records: EMPTY, count: 0, nextOffset: 0, minOffset: 0, maxOffset: 0 };
    return getMessageFromQueue(this.commitLog, cq, offset, maxMsgs, filter);
  }

  queryMessage(topic: string, key: string, maxNum: number, begin: number, end: number): QueryMessageResult {
    this.checkOpen();
    return queryMessageByKey(this.indexService, this.commitLog, topic, key, maxNum, begin, end);
  }

  queryMessageById(messageId: string, maxNum: number): QueryMessageResult {
    this.checkOpen();
    return queryMessageById(this.indexService, this.commitLog, messageId, maxNum);
  }

  stats(): StoreStats {
    const rate = this.storeStats.putRate();
    const flush = this.storeStats.flushLatencyStats();
    const cp = this.lastCheckpoint ?? this.storeCheckpoint.loaded;
    return {
      putMessagesTotal: this.storeStats.putMessagesTotal,
      putBytesTotal: this.storeStats.putBytesTotal,
      putMessagesPerSec: rate.messagesPerSec,
      putBytesPerSec: rate.bytesPerSec,
      flushDiskType: this.flushDiskType,
      flushTotal: flush.flushTotal,
      flushLatencyP50Ms: flush.p50Ms,
      flushLatencyP99Ms: flush.p99Ms,
      flushLatencyMaxMs: flush.maxMs,
      flushDiskTimeoutTotal: this.groupCommit?.flushDiskTimeouts ?? 0,
      commitLogMinOffset: this.commitLog.getMinOffset(),
      commitLogMaxOffset: this.commitLog.getMaxOffset(),
      commitLogFlushedOffset: this.commitLog.getFlushedOffset(),
      checkpointPhysicOffset: cp?.physicOffset ?? 0,
      checkpointLogicsOffset: cp?.logicsOffset ?? 0,
      checkpointIndexOffset: cp?.indexOffset ?? 0,
    };
  }

  /**
   * One flush round (FlushRealTimeService's tick): the CommitLog (ASYNC_FLUSH; the group
   * commit does it under SYNC_FLUSH), the ConsumeQueues, then the checkpoint. The progress
   * it records is read BEFORE the flushes: the dispatcher runs inside each append, so every
   * record before the CommitLog's end at that moment has its units written, and once the
   * ConsumeQueue files are synced they are on disk.
   */
  async flushRound(): Promise<void> {
    if (!this.open) return;
    const logicsOffset = this.commitLog.getMaxOffset();
    const physicMsgTimestamp = this.commitLog.lastStoreTimestamp;
    if (this.flushDiskType === 'ASYNC_FLUSH' && this.commitLog.getFlushedOffset() < logicsOffset) {
      const t0 = performance.now();
      await this.commitLog.flushAsync();
      this.storeStats.recordFlush(performance.now() - t0);
    }
    await this.flushConsumeQueuesAsync();
    // The key index persists in the same round (as well as on its own timer), so its
    // progress keeps up with the checkpoint: after a crash the replay starts at the lower of
    // the two, and an index a few rounds behind would double the replay.
    await this.indexService.persistAsync();
    const indexOffset = this.dispatcher.minReportedOffset() ?? logicsOffset;
    await this.writeCheckpoint({ physicMsgTimestamp, physicOffset: this.commitLog.getFlushedOffset(), logicsOffset, indexOffset });
  }

  /** Skipped when nothing moved: an idle broker does not fdatasync every interval. */
  private async writeCheckpoint(data: CheckpointData): Promise<void> {
    const last = this.lastCheckpoint;
    if (last && last.physicOffset === data.physicOffset && last.logicsOffset === data.logicsOffset && last.indexOffset === data.indexOffset) return;
    await this.storeCheckpoint.write(data);
    this.lastCheckpoint = data;
    this.checkpointedOffset = Math.min(data.physicOffset, data.logicsOffset);
  }

  private async flushConsumeQueuesAsync(): Promise<void> {
    // One at a time: a burst of fdatasyncs would queue the group commit's behind them on the thread pool.
    for (const cq of this.allConsumeQueues()) await cq.flushAsync();
  }

  /** fdatasync everything now. */
  flush(): void {
    if (!this.open) return;
    this.commitLog.flush();
    for (const cq of this.allConsumeQueues()) cq.flush();
  }

  async shutdown(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.cleanCommitLogService.shutdown();
    await this.flushService.shutdown();
    await this.groupCommit?.shutdown();
    await this.commitLog.stopAllocating();
    await this.indexService.shutdown();
    this.commitLog.flush();
    for (const cq of this.allConsumeQueues()) cq.flush();
    // Everything is on disk: the next start verifies and replays nothing.
    const end = this.commitLog.getMaxOffset();
    this.storeCheckpoint.writeSync({
      physicMsgTimestamp: this.commitLog.lastStoreTimestamp,
      physicOffset: this.commitLog.getFlushedOffset(),
      logicsOffset: end,
      indexOffset: this.dispatcher.minReportedOffset() ?? end,
    });
    this.storeCheckpoint.close();
    this.commitLog.shutdown();
    for (const cq of this.allConsumeQueues()) cq.shutdown();
    this.logger.info('message store shut down', { commitLogMaxOffset: this.commitLog.getMaxOffset() });
  }

  /**
   * Tests and the recovery benchmark: leaves the files as kill -9 would. Timers stop and the
   * files close with no flush and no checkpoint (the page cache keeps what was written, as
   * it does when a process dies); sends waiting for a group commit never get an answer.
   * The key index is shut down normally: its own persistence is not what this exercises.
   */
  async simulateCrash(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.cleanCommitLogService.shutdown();
    await this.flushService.shutdown();
    await this.groupCommit?.abandon();
    await this.commitLog.stopAllocating();
    await this.indexService.shutdown();
    this.storeCheckpoint.close();
    this.commitLog.shutdown();
    for (const cq of this.allConsumeQueues()) cq.shutdown();
  }
}
