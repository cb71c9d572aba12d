/**
 * DefaultMessageStore: the CommitLog, the ConsumeQueues that index it, the dispatcher that
 * builds them and the flush service, behind the MessageStore interface the server uses.
 *
 *   putMessages(batch) -> CommitLog.putMessages (one write) -> Dispatcher -> ConsumeQueue
 *   getMessage(topic, queueId, offset, filter) -> get-message.ts: ConsumeQueue units -> tag filter -> CommitLog reads
 *   queryMessage(topic, key) / queryMessageById(id) -> index/query-message-service.ts
 *   retention: CleanCommitLogService -> CleanConsumeQueueService (ConsumeQueues, index)
 *   deleteTopic: topic-deleter.ts: a durable tombstone (topic-tombstones.ts), then the topic's ConsumeQueues go;
 *     the replay, the tier's restore and lookups skip the topic's records below the tombstone
 *   reads of the log, local or tiered: commit-log-reader.ts (getMessage and lookups alike)
 *   tiered storage (optional, store-tier.ts): reads below the local log, deletion only once
 *     tiered, durability `s3`; open() instead of load() lets it restore first
 *   flush round + checkpoint: store-flush-round.ts; the public shapes: message-store-types.ts
 *
 * Memory stays flat as the log grows: the store keeps one entry per topic-queue
 * (topicQueueTable, ConsumeQueue objects), never per message; reads go to the files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError, Field, type Logger, readInt64, readRecordShape, type SendBatch } from '@cirrusmq/client/protocol';
import { type AppendResult, CommitLog } from './commit-log';
import { CommitLogReader } from './commit-log-reader';
import type { ConsumeQueue } from './consume-queue';
import { ConsumeQueueTable } from './consume-queue-table';
import { CommitLogDispatcherBuildConsumeQueue, Dispatcher } from './dispatcher';
import { CleanCommitLogService, DEFAULT_CLEAN_CONFIG } from './clean-commit-log-service';
import { CleanConsumeQueueService } from './clean-consume-queue-service';
import type { MessageFilter } from './filter/message-filter';
import { getMessageFromQueue } from './get-message';
import { DEFAULT_INDEX_CONFIG, IndexService } from './index/index-service';
import { queryMessageById, queryMessageByKey, type LogReader } from './index/query-message-service';
import { FLUSH_ROUND_BYTES, FlushRealTimeService, type FlushCommitLogService } from './flush-service';
import { GroupCommitService } from './group-commit-service';
import type {
  DeleteTopicResult,
  FlushDiskType,
  GetMessageResult,
  MessageStore,
  MessageStoreConfig,
  PutMessageResult,
  PutOptions,
  QueryMessageResult,
  StoreDurability,
  StoreStats,
} from './message-store-types';
import { StoreCheckpoint, type StoredCheckpoint } from './store-checkpoint';
import { STORE_DEFAULTS } from './store-defaults';
import { StoreFlushRound } from './store-flush-round';
import { StoreStatsService } from './store-stats-service';
import type { StoreTier, TierStats } from './store-tier';
import { TopicDeleter } from './topic-deleter';
import { TopicTombstones, type IncarnationVerdict } from './topic-tombstones';

const EMPTY = Buffer.alloc(0);
const queueKey = (topic: string, queueId: number): string => `${topic}-${queueId}`;

export class DefaultMessageStore implements MessageStore {
  readonly commitLog: CommitLog;
  /** Reads of the log, local or tiered (getMessage and the lookups share it). */
  private readonly commitLogReader: CommitLogReader;
  private readonly consumeQueueTable: ConsumeQueueTable;
  /** Deleted topics and the incarnation the local queues belong to (topic-tombstones.ts). */
  readonly topicTombstones: TopicTombstones;
  /** Next queue offset per topic-queue ("topic-queueId"), as RocketMQ's topicQueueTable. */
  readonly topicQueueTable = new Map<string, number>();
  private readonly dispatcher: Dispatcher;
  private messageArrivingListener: ((topic: string, queueId: number, maxOffset: number) => void) | undefined;
  readonly indexService: IndexService;
  readonly cleanCommitLogService: CleanCommitLogService;
  private readonly flushService: FlushCommitLogService;
  /** SYNC_FLUSH only. */
  private readonly groupCommit: GroupCommitService | undefined;
  private readonly storeCheckpoint: StoreCheckpoint;
  private readonly flushRoundService: StoreFlushRound;
  readonly flushDiskType: FlushDiskType;
  readonly storeStats = new StoreStatsService();
  private readonly topicDeleter: TopicDeleter;
  private opened = false;

  constructor(
    private readonly config: MessageStoreConfig,
    private readonly logger: Logger,
    readonly tier?: StoreTier,
  ) {
    this.flushDiskType = config.flushDiskType ?? 'ASYNC_FLUSH';
    this.commitLog = new CommitLog(config.storeDir, config.commitLogSegmentBytes, logger, {
      dataSync: config.dataSync,
      preallocate: config.preallocateSegments ?? false,
    });
    this.commitLogReader = new CommitLogReader(this.commitLog, tier);
    this.storeCheckpoint = new StoreCheckpoint(config.storeDir, config.dataSync);
    this.consumeQueueTable = new ConsumeQueueTable(path.join(config.storeDir, 'consumequeue'), config.consumeQueueUnitsPerFile);
    this.topicTombstones = new TopicTombstones(config.storeDir);
    this.topicDeleter = new TopicDeleter({
      storeDir: config.storeDir,
      commitLog: this.commitLog,
      consumeQueueTable: this.consumeQueueTable,
      tombstones: this.topicTombstones,
      forgetQueue: (topic, queueId) => this.topicQueueTable.delete(queueKey(topic, queueId)),
      logger,
    });
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
    this.dispatcher = new Dispatcher(
      [new CommitLogDispatcherBuildConsumeQueue((t, q) => this.findConsumeQueue(t, q), logger), this.indexService],
      logger,
      (topic, offset) => this.topicTombstones.isDeleted(topic, offset),
    );
    const cleanConsumeQueue = new CleanConsumeQueueService(() => this.allConsumeQueues(), this.indexService, logger);
    this.cleanCommitLogService = new CleanCommitLogService(
      this.commitLog,
      {
        fileReservedTimeMs: config.fileReservedTimeMs ?? DEFAULT_CLEAN_CONFIG.fileReservedTimeMs,
        diskBudgetBytes: config.diskBudgetBytes ?? DEFAULT_CLEAN_CONFIG.diskBudgetBytes,
        cleanIntervalMs: config.cleanIntervalMs ?? DEFAULT_CLEAN_CONFIG.cleanIntervalMs,
      },
      // With a tier, units of locally deleted segments stay: those records are read from the tier.
      {
        onDeleted: () => {
          cleanConsumeQueue.run(this.minPhysicOffset());
          this.topicTombstones.prune(this.minPhysicOffset());
        },
        canDelete: tier ? (f) => tier.canDelete(f) : undefined,
      },
      logger,
    );
    tier?.attach(this.commitLog, {
      trimBelow: (min) => cleanConsumeQueue.run(min),
      tombstones: this.topicTombstones,
      onSegmentTiered: (seconds) => this.storeStats.recordTierUpload(seconds),
    });
    this.flushRoundService = new StoreFlushRound({
      commitLog: this.commitLog,
      checkpoint: this.storeCheckpoint,
      indexService: this.indexService,
      dispatcher: this.dispatcher,
      consumeQueues: () => this.allConsumeQueues(),
      stats: this.storeStats,
      flushDiskType: this.flushDiskType,
    });
    this.flushService = new FlushRealTimeService(() => this.flushRound(), config.flushIntervalMs, logger);
    if (this.flushDiskType === 'SYNC_FLUSH') {
      this.groupCommit = new GroupCommitService(
        this.commitLog,
        config.syncFlushTimeoutMs ?? STORE_DEFAULTS.syncFlushTimeoutMs,
        this.storeStats,
        logger,
        config.syncFlushClock,
      );
    }
  }

  /** Opens with the tier: restore from it if the store folder is empty, load, then start tiering. */
  async open(): Promise<this> {
    await this.tier?.prepare();
    this.load();
    await this.tier?.start();
    return this;
  }

  /** The first CommitLog offset readable: the tier's first segment, or the local log's first. */
  minPhysicOffset(): number {
    return this.commitLogReader.minOffset();
  }

  /**
   * Opens and recovers (after a clean shutdown or a kill -9 alike):
   *   1. ConsumeQueues and the key index: find where each ends;
   *   2. one walk of the CommitLog from the lowest progress (checkpoint, index): records from
   *      the checkpoint's flushed offset on are verified (a torn tail is truncated), and every
   *      record goes to the dispatchers that lack it;
   *   3. drop ConsumeQueue units that point past the log; topicQueueTable from the queues.
   * What it reads: the checkpoint, the log from min(checkpoint offsets) to its end (after a
   * crash, what was written since the last flush round: at most about FLUSH_ROUND_BYTES or
   * one flush interval of writes; nothing after a clean shutdown), and the tail of the last
   * file of each ConsumeQueue. Never the whole log, unless there is no checkpoint.
   */
  load(): this {
    fs.mkdirSync(this.config.storeDir, { recursive: true });
    const checkpoint = this.storeCheckpoint.loaded;
    this.commitLog.load();
    const filesEnd = this.commitLog.getMaxOffset();
    this.consumeQueueTable.load();
    for (const cq of this.allConsumeQueues()) cq.recover(checkpoint?.logicsOffset ?? 0);
    const redoFrom = this.topicDeleter.dropQueuesOfDeletedTopics();
    // The index replays from its own progress when it is behind (its files were deleted, or
    // persisted less often than the ConsumeQueues); records it holds already are skipped.
    this.indexService.load(filesEnd);
    // One walk verifies the tail (CRC, truncating what is torn) and dispatches it.
    let reputFrom = this.reputFromOffset(checkpoint, filesEnd);
    if (redoFrom !== undefined) reputFrom = Math.max(Math.min(reputFrom, redoFrom), this.commitLog.getMinOffset());
    const maxPhysical = this.dispatcher.recoverAndReput(this.commitLog, checkpoint?.physicOffset, reputFrom);
    // A torn tail below the index's progress: the index holds entries past the log; reopen it at the log's end.
    if (this.indexService.maxPhysicalOffset() > maxPhysical) this.indexService.reopen(maxPhysical);
    this.commitLog.lastStoreTimestamp = checkpoint?.physicMsgTimestamp ?? 0;
    this.flushRoundService.checkpointedOffset = Math.min(checkpoint?.physicOffset ?? 0, maxPhysical);
    for (const cq of this.allConsumeQueues()) {
      cq.truncateDirtyLogicFiles(maxPhysical);
      cq.correctMinOffset(this.minPhysicOffset());
    }
    this.commitLog.prepareNextSegment();
    for (const cq of this.allConsumeQueues()) this.topicQueueTable.set(queueKey(cq.topic, cq.queueId), cq.getMaxOffsetInQueue());
    this.opened = true;
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

  /**
   * Deletes a topic's queues (RocketMQ's deleteTopics): the tombstone is durable before
   * anything goes, so a crash at any point cannot bring the records back; the topic's next
   * send starts at queue offset 0. `createdAt`: the NameServer incarnation deleted, whose
   * sends and reads answer TOPIC_NOT_FOUND here from now on.
   */
  async deleteTopic(topic: string, createdAt?: number): Promise<DeleteTopicResult> {
    this.checkOpen();
    const { deletedBelow, queues, closed } = this.topicDeleter.drop(topic, createdAt, true);
    await closed;
    // A restore onto a wiped disk reads the tombstones from the tier: durability s3 acks once they are there.
    await this.tier?.topicTombstonesStored();
    this.logger.info('topic deleted', { topic, deletedBelow, queues, createdAt });
    return { topic, deletedBelow, queues };
  }

  /** topic-deleter.ts's ensureIncarnation: topic-config-manager.ts asks before serving a topic. */
  ensureTopicIncarnation(topic: string, createdAt: number): IncarnationVerdict {
    return this.topicDeleter.ensureIncarnation(topic, createdAt);
  }

  /** Topics with queues here (a broker checks their incarnations at start). */
  localTopics(): string[] {
    return this.consumeQueueTable.topics();
  }

  private allConsumeQueues(): Iterable<ConsumeQueue> {
    return this.consumeQueueTable.all();
  }

  /** The ConsumeQueue of a topic-queue, created on first use. */
  findConsumeQueue(topic: string, queueId: number): ConsumeQueue {
    return this.consumeQueueTable.findOrCreate(topic, queueId);
  }

  isOpen(): boolean {
    return this.opened;
  }

  private checkOpen(): void {
    if (!this.opened) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the message store is shut down');
  }

  /** When this store acknowledges a put: after the write, after fdatasync, or once in S3. */
  get durability(): StoreDurability {
    if (this.tier?.acksAfterS3) return 's3';
    return this.flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async';
  }

  /**
   * Write, index, then (SYNC_FLUSH) wait for the group commit. Everything up to the wait is
   * synchronous, so appends keep the order of the calls and each wait covers its own bytes.
   */
  async putMessages(batch: SendBatch, options?: PutOptions): Promise<PutMessageResult> {
    this.checkOpen();
    const key = queueKey(batch.topic, batch.queueId);
    const queueOffset = this.topicQueueTable.get(key) ?? 0;
    const result = this.commitLog.putMessages(batch, queueOffset, Date.now());
    this.topicQueueTable.set(key, queueOffset + result.count);
    this.dispatcher.dispatchAppend(batch, result);
    // After the ConsumeQueue units exist, so a woken long-polling pop reads them (RocketMQ's NotifyMessageArrivingListener).
    this.messageArrivingListener?.(batch.topic, batch.queueId, queueOffset + result.count);
    this.storeStats.recordPut(result.count, result.bytes, batch.topic);
    const nextOffset = this.commitLog.getMaxOffset();
    const durable = this.afterAppend(result, nextOffset, options);
    const status = durable === undefined ? 'PUT_OK' : await durable;
    return { status, queueOffset, count: result.count, commitLogOffset: result.commitLogOffset, commitLogEnd: nextOffset };
  }

  /**
   * What every append does after its write: wake the flush round, hand the bytes to the tier,
   * and answer the put's status once its durability is reached (undefined: at once, PUT_OK).
   */
  private afterAppend(result: AppendResult, nextOffset: number, options: PutOptions | undefined): Promise<PutMessageResult['status']> | undefined {
    if (nextOffset - this.flushRoundService.checkpointedOffset >= FLUSH_ROUND_BYTES) this.flushService.wakeup();
    const tierAck = this.tier?.afterAppend(result);
    if (options?.durability === 'async' || (!this.groupCommit && !tierAck)) return undefined;
    return (async () => {
      const status: PutMessageResult['status'] = this.groupCommit ? await this.groupCommit.waitForFlush(nextOffset) : 'PUT_OK';
      const s3 = tierAck ? await tierAck : 'PUT_OK';
      return status === 'PUT_OK' ? s3 : status;
    })();
  }

  /**
   * putMessages for the records of several queues in one CommitLog write and one dispatch pass
   * (a transaction flush's commits and its op record): `batch` holds the records (CommitLog
   * layout, any topics), `queues` says whose they are, in order, `count` records each; one
   * answer per entry of `queues`. Acknowledged as a put is: after the write, or after the flush
   * or the S3 chunk that covers all of it. The records keep their order in the log, so a torn
   * tail keeps a prefix of them.
   */
  async putMessagesOfQueues(
    batch: SendBatch,
    queues: readonly { topic: string; queueId: number; count: number }[],
    options?: PutOptions,
  ): Promise<PutMessageResult[]> {
    this.checkOpen();
    const queueIds: number[] = new Array(batch.records.length);
    const queueOffsets: number[] = new Array(batch.records.length);
    const parts: { topic: string; queueId: number; count: number; queueOffset: number; key: string }[] = [];
    // A queue named twice continues where its first part ends.
    const next = new Map<string, number>();
    let i = 0;
    for (const q of queues) {
      const key = queueKey(q.topic, q.queueId);
      const queueOffset = next.get(key) ?? this.topicQueueTable.get(key) ?? 0;
      next.set(key, queueOffset + q.count);
      for (let j = 0; j < q.count; j++, i++) {
        queueIds[i] = q.queueId;
        queueOffsets[i] = queueOffset + j;
      }
      parts.push({ topic: q.topic, queueId: q.queueId, count: q.count, queueOffset, key });
    }
    if (i !== batch.records.length) throw new CirrusError('INTERNAL', `queues name ${i} records, the batch holds ${batch.records.length}`);
    const result = this.commitLog.putMessages(batch, 0, Date.now(), { queueIds, queueOffsets });
    for (const [key, offset] of next) this.topicQueueTable.set(key, offset);
    this.dispatcher.dispatchAppendOfQueues(batch, result, parts);
    const nextOffset = this.commitLog.getMaxOffset();
    const answers: PutMessageResult[] = [];
    let r = 0;
    for (const p of parts) {
      this.messageArrivingListener?.(p.topic, p.queueId, p.queueOffset + p.count);
      let bytes = 0;
      for (let j = 0; j < p.count; j++) bytes += batch.records[r + j]!.shape.size;
      this.storeStats.recordPut(p.count, bytes, p.topic);
      answers.push({
        status: 'PUT_OK',
        queueOffset: p.queueOffset,
        count: p.count,
        commitLogOffset: result.physicalOffsets[r] ?? -1,
        commitLogEnd: nextOffset,
      });
      r += p.count;
    }
    const durable = this.afterAppend(result, nextOffset, options);
    if (durable === undefined) return answers;
    const status = await durable;
    for (const a of answers) a.status = status;
    return answers;
  }

  /** Called after each append is indexed: (topic, queueId, the queue's new max offset). */
  setMessageArrivingListener(listener: ((topic: string, queueId: number, maxOffset: number) => void) | undefined): void {
    this.messageArrivingListener = listener;
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.consumeQueueTable.get(topic, queueId)?.getMinOffsetInQueue() ?? 0;
  }

  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.consumeQueueTable.get(topic, queueId)?.getMaxOffsetInQueue() ?? 0;
  }

  async getMessage(topic: string, queueId: number, offset: number, maxMsgs: number, filter?: MessageFilter): Promise<GetMessageResult> {
    this.checkOpen();
    const cq = this.consumeQueueTable.get(topic, queueId);
    if (!cq) return { records: EMPTY, count: 0, nextOffset: 0, minOffset: 0, maxOffset: 0 };
    return getMessageFromQueue(this.commitLogReader, cq, offset, maxMsgs, filter);
  }

  queryMessage(topic: string, key: string, maxNum: number, begin: number, end: number): Promise<QueryMessageResult> {
    this.checkOpen();
    return queryMessageByKey(this.indexService, this.logReader, topic, key, maxNum, begin, end);
  }

  queryMessageById(messageId: string, maxNum: number): Promise<QueryMessageResult> {
    this.checkOpen();
    return queryMessageById(this.indexService, this.logReader, messageId, maxNum);
  }

  /** One whole record by its CommitLog offset and size, local or tiered (the timer store's firing); undefined when not stored. */
  readCommitLog(offset: number, size: number): Promise<Buffer | undefined> {
    this.checkOpen();
    return this.logReader.read(offset, size);
  }

  /** Lookups read the local CommitLog, and the tier below it (a tiered record whose index entry is still local). */
  private readonly logReader: LogReader = {
    minOffset: () => this.commitLogReader.minOffset(),
    maxOffset: () => this.commitLogReader.maxOffset(),
    read: async (offset, size) => {
      const buf = await this.commitLogReader.read(offset, size);
      // The index keeps entries of deleted topics' records: a whole record of one reads as not stored.
      return buf && size > Field.BODY && this.isDeletedRecord(buf) ? undefined : buf;
    },
  };

  private isDeletedRecord(buf: Buffer): boolean {
    if (!this.topicTombstones.hasAny()) return false;
    const shape = readRecordShape(buf, 0, buf.length);
    if (!shape) return false;
    const topic = buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength);
    return this.topicTombstones.isDeleted(topic, readInt64(buf, Field.PHYSICALOFFSET));
  }

  stats(): StoreStats {
    const rate = this.storeStats.putRate();
    const flush = this.storeStats.flushLatencyStats();
    const cp = this.flushRoundService.lastCheckpoint ?? this.storeCheckpoint.loaded;
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

  tierStats(): TierStats | undefined {
    return this.tier?.stats();
  }

  /** One flush round and its checkpoint (store-flush-round.ts). */
  async flushRound(): Promise<void> {
    if (!this.opened) return;
    await this.flushRoundService.run();
  }

  /** fdatasync everything now. */
  flush(): void {
    if (!this.opened) return;
    this.flushRoundService.flushAll();
  }

  async shutdown(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await this.cleanCommitLogService.shutdown();
    // Sends waiting for the write-ahead log get their answer while the files are still open.
    await this.tier?.shutdown();
    await this.flushService.shutdown();
    await this.groupCommit?.shutdown();
    await this.commitLog.stopAllocating();
    await this.indexService.shutdown();
    // Everything is on disk: the next start verifies and replays nothing.
    this.flushRoundService.flushAllAndCheckpoint();
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
    if (!this.opened) return;
    this.opened = false;
    await this.cleanCommitLogService.shutdown();
    await this.tier?.abandon();
    await this.flushService.shutdown();
    await this.groupCommit?.abandon();
    await this.commitLog.stopAllocating();
    await this.indexService.shutdown();
    this.storeCheckpoint.close();
    this.commitLog.shutdown();
    for (const cq of this.allConsumeQueues()) cq.shutdown();
  }
}
