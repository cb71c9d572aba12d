/**
 * The store's public shapes, in one home: its configuration, its statuses and limits, what
 * its calls answer, and the MessageStore interface the broker's server uses (the seam for
 * tiered and other stores). DefaultMessageStore (message-store.ts) implements it. The store's
 * modules import their shapes from here and this module imports none of them back (type
 * imports of leaf modules only), so the read path and the store form no import circle.
 */
import type { Durability, SendBatch } from '@cirrusmq/client/protocol';
import type { MessageFilter } from './filter/message-filter';
import type { TierAckStatus, TierStats } from './store-tier';
import type { StoreStatsService } from './store-stats-service';
import type { DataSync } from './mapped-file';

export interface MessageStoreConfig {
  storeDir: string;
  commitLogSegmentBytes: number;
  consumeQueueUnitsPerFile: number;
  flushIntervalMs: number;
  /** ASYNC_FLUSH (default): ack after the write; SYNC_FLUSH: ack after a group-commit fdatasync (flush-service.ts). */
  flushDiskType?: FlushDiskType;
  /** SYNC_FLUSH: a send not on disk within this answers FLUSH_DISK_TIMEOUT (default 5000, RocketMQ's syncFlushTimeout). */
  syncFlushTimeoutMs?: number;
  /** The clock syncFlushTimeoutMs is measured on (default Date.now): tests step it, so a slow disk cannot race the timeout. */
  syncFlushClock?: () => number;
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

/** ASYNC_FLUSH: a send is acknowledged after its write; SYNC_FLUSH: after a group-commit fdatasync (flush-service.ts). */
export type FlushDiskType = 'ASYNC_FLUSH' | 'SYNC_FLUSH';

/** A put under SYNC_FLUSH (group-commit-service.ts): FLUSH_DISK_TIMEOUT when its fdatasync missed syncFlushTimeoutMs. */
export type PutMessageStatus = 'PUT_OK' | 'FLUSH_DISK_TIMEOUT';

/** When a put is acknowledged: after the write, after fdatasync, or once in S3 (the broker's `durability` setting). */
export type StoreDurability = Durability;

/** One read answers at most this many bytes (and always at least one record), so a read of 1024 big messages cannot eat memory. */
export const MAX_READ_BYTES = 8 * 1024 * 1024;
/** Units a filtered read looks at before it answers what it has (320 KiB of ConsumeQueue). */
export const MAX_FILTER_SCAN_UNITS = 16 * 1024;
/** Candidates read per lookup at most: a slot full of colliding hashes cannot make a lookup read the log for ever. */
export const MAX_CANDIDATES = 4096;

export interface PutOptions {
  /** Acknowledge after the write, whatever the store's own level. */
  durability?: 'async';
}

export interface PutMessageResult {
  /**
   * PUT_OK; FLUSH_DISK_TIMEOUT under SYNC_FLUSH when the fdatasync missed syncFlushTimeoutMs;
   * FLUSH_S3_TIMEOUT with durability `s3` when the write-ahead chunk missed its ack timeout.
   * Either way the data is written, not yet known durable.
   */
  status: PutMessageStatus | TierAckStatus;
  /** Queue offset of the batch's first record; the rest follow contiguously. */
  queueOffset: number;
  count: number;
  /** CommitLog offset of the batch's first record. */
  commitLogOffset: number;
  /** The CommitLog's end after the batch: commitLogEnd - commitLogOffset is the records' bytes when no segment change split them (the timer store's hand-off relies on it). */
  commitLogEnd?: number;
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

export interface QueryMessageResult {
  /** Raw stored records, oldest first, back to back (decodeRecords reads them). */
  records: Buffer;
  count: number;
}

export interface DeleteTopicResult {
  topic: string;
  /** The topic's records below this CommitLog offset are deleted (their bytes leave with retention). */
  deletedBelow: number;
  /** ConsumeQueues removed. */
  queues: number;
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
  /**
   * Appends; under SYNC_FLUSH resolves once the batch is on disk (or FLUSH_DISK_TIMEOUT), with
   * durability s3 once it is in a write-ahead chunk (or FLUSH_S3_TIMEOUT). `durability` 'async'
   * asks for the ack after the write on such a broker (the bytes still go to the write-ahead log).
   */
  putMessages(batch: SendBatch, options?: PutOptions): Promise<PutMessageResult>;
  /** The durability this store acknowledges at by default. */
  readonly durability: StoreDurability;
  /** Throws OFFSET_BELOW_MINIMUM (details.minOffset) for an offset retention deleted. */
  getMessage(topic: string, queueId: number, offset: number, maxMsgs: number, filter?: MessageFilter): Promise<GetMessageResult>;
  /** The first queue offset kept and one past the last (0 for a queue never written). */
  getMinOffsetInQueue(topic: string, queueId: number): number;
  getMaxOffsetInQueue(topic: string, queueId: number): number;
  /** Called after each append is indexed, with the queue's new max offset (long polling's wake-up). */
  setMessageArrivingListener(listener: ((topic: string, queueId: number, maxOffset: number) => void) | undefined): void;
  /** Messages of `topic` with `key` among their KEYS stored within [begin, end] (ms): the newest maxNum, oldest first. */
  queryMessage(topic: string, key: string, maxNum: number, begin: number, end: number): Promise<QueryMessageResult>;
  /** The stored copies of a message by its id (UNIQ_KEY). */
  queryMessageById(messageId: string, maxNum: number): Promise<QueryMessageResult>;
  stats(): StoreStats;
  /** The latency histograms and per-topic counters the broker's /metrics registers. */
  readonly storeStats: StoreStatsService;
  /** The tier's figures; undefined without tiered storage. */
  tierStats(): TierStats | undefined;
  isOpen(): boolean;
  flush(): void;
  shutdown(): Promise<void>;
}
