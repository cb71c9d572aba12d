/**
 * Which CommitLog segments are in the object store: DynamoDB `TIER#{cluster}#{brokerName}`
 * items in AWS mode (dynamodb-tier-manifest.ts), JSON files in the tier folder locally
 * (local-tier-manifest.ts). A segment counts as tiered only once its entry is committed,
 * which happens only after its objects were uploaded.
 */

export interface TieredSegment {
  /** The segment's first CommitLog offset (its file name). */
  startOffset: number;
  /** The offset after its last byte: startOffset + the segment's file size (BLANK filler included). */
  endOffset: number;
  /** Object keys (relative to the broker prefix) of the segment and of its ConsumeQueue extract. */
  commitLogKey: string;
  consumeQueueKey: string;
  /** Bytes in the segment object (the whole file: records, then the BLANK filler). */
  objectSize: number;
  /** CRC32 of the uploaded segment object. */
  crc32: number;
  /** Store timestamps of its first and last record (ms); retention uses the last. */
  firstStoreTimestamp: number;
  lastStoreTimestamp: number;
  /** When the entry was committed (ms). */
  tieredAt: number;
}

export interface TierManifest {
  /** Every committed entry, by startOffset ascending. */
  list(): Promise<TieredSegment[]>;
  /**
   * Creates the entry, never replaces one: committing the same segment again (same objects,
   * size, end and CRC32: a retry after a lost answer) succeeds and keeps the first entry;
   * another segment under the same startOffset is TIER_OBJECT_CONFLICT.
   */
  commit(segment: TieredSegment): Promise<void>;
  /** Removing a missing entry is not an error. */
  remove(startOffset: number): Promise<void>;
}

/** Whether two entries describe the same tiered segment (when they were committed aside). */
export function sameSegment(a: TieredSegment, b: TieredSegment): boolean {
  return (
    a.startOffset === b.startOffset &&
    a.endOffset === b.endOffset &&
    a.commitLogKey === b.commitLogKey &&
    a.consumeQueueKey === b.consumeQueueKey &&
    a.objectSize === b.objectSize &&
    a.crc32 === b.crc32
  );
}
