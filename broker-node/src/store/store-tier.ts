/**
 * The seam between the message store and tiered storage (tier/tiered-storage.ts implements
 * it): the store stays whole without a tier, and knows of one only through these calls.
 */
import type { AppendResult, CommitLog } from './commit-log';
import type { MappedFile } from './mapped-file';
import type { TopicTombstones } from './topic-tombstones';

export type TierAckStatus = 'PUT_OK' | 'FLUSH_S3_TIMEOUT';

export interface StoreTierHooks {
  /** Trim ConsumeQueue units and index files below the log's new first offset (tier retention). */
  trimBelow(minOffset: number): void;
  /** The deleted topics: a restore leaves their records out, and the tier keeps a copy of the table (a wiped disk loses the local one). */
  readonly tombstones: TopicTombstones;
  /** After each segment is tiered: how long it took (the store's upload histogram). */
  onSegmentTiered?(seconds: number): void;
}

/** What /metrics and /v1/stats show of the tier. */
export interface TierStats {
  location: string;
  tieredSegments: number;
  tieredMinOffset: number;
  tieredMaxOffset: number;
  tieringLagBytes: number;
  tieringLagSeconds: number;
  segmentsUploaded: number;
  bytesUploaded: number;
  lastUploadBytesPerSec: number;
  uploadFailures: number;
  cacheHits: number;
  cacheMisses: number;
  cacheHitRatio: number;
  cacheBytes: number;
  prefetches: number;
  s3Requests: { put: number; uploadPart: number; get: number; list: number; delete: number; errors: number };
  wal?: { durableEnd: number; pendingBytes: number; chunksUploaded: number; bytesUploaded: number; uploadFailures: number; ackTimeouts: number };
}

export interface StoreTier {
  /** From the store's constructor. */
  attach(commitLog: CommitLog, hooks: StoreTierHooks): void;
  /** Before the store loads: restore an empty store folder from the tier, load the manifest. */
  prepare(): Promise<void>;
  /** After the store loaded: start uploading (and the write-ahead log at the local log's end). */
  start(): Promise<void>;
  /** The first offset readable anywhere: the tier's first segment, or `localMin`. */
  minOffset(localMin: number): number;
  /** Whether [offset, offset + length) is in the tier; the end of its tiered segment when it is. */
  segmentEnd(offset: number): number | undefined;
  readInto(offset: number, length: number, into: Buffer, intoOffset: number): Promise<void>;
  /** Retention: a local segment goes only when this allows it (once tiered). */
  canDelete(segment: MappedFile): boolean;
  /** After a topic delete: resolves once the tier's copy of the deleted topics holds it where the durability promises that (`s3`), at once otherwise. */
  topicTombstonesStored(): Promise<void>;
  /** Durability `s3`: sends are acknowledged once in a write-ahead chunk. */
  readonly acksAfterS3: boolean;
  /** After each append: durability `s3` resolves once the bytes are in a write-ahead chunk; otherwise undefined. */
  afterAppend(result: AppendResult): Promise<TierAckStatus> | undefined;
  stats(): TierStats;
  shutdown(): Promise<void>;
  /** As kill -9 leaves it (tests). */
  abandon(): Promise<void>;
}
