/**
 * Restore on a fresh disk: a broker whose store folder has no CommitLog but whose tier has
 * a manifest (or write-ahead chunks) under its brokerName is a replacement for one that was
 * lost. Before the store opens, this lays out its folder so the normal load serves on:
 *
 *   consumequeue/  rebuilt from each tiered segment's extract: reads of tiered offsets work;
 *                  units of deleted topics (isDeleted: the tombstones, merged from the
 *                  tier's copy first) are left out, so a topic created again since holds
 *                  only its own records, from queue offset 0
 *   index/         the key index of the tiered records, from each segment's index extract
 *                  (a segment uploaded without one is read and indexed instead): lookups by
 *                  key and by id find tiered messages (entries of deleted topics' records
 *                  stay, as they do on a live broker: lookups read each candidate record
 *                  and drop the deleted ones, and the extract carries no topic to filter by)
 *   commitlog/     starts at the last tiered segment's end; with `s3` durability the
 *                  write-ahead chunks after it are written back (every acknowledged send),
 *                  and the store's load verifies and indexes them as after any restart
 *
 * New appends then go after the last durable offset, so no offset is handed out twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError, Field, type Logger, readInt64 } from '@cirrusmq/client/protocol';
import { CQ_STORE_UNIT_SIZE, CqUnit, ConsumeQueue } from '../store/consume-queue';
import { DEFAULT_INDEX_CONFIG, IndexService, type IndexServiceConfig } from '../store/index/index-service';
import { MappedFile, fileNameToOffset } from '../store/mapped-file';
import { decodeConsumeQueueExtract } from './consume-queue-extract';
import { IndexExtractDamagedError, RecordKeyHasher, isMissingExtract, replayIndexExtract } from './index-extract';
import { scanSegment } from './segment-file-scanner';
import { indexExtractKey } from './segment-upload';
import type { ObjectStore } from './object-store';
import type { TieredSegment, TierManifest } from './tier-manifest';
import { listWalChunks, replayWalFrom } from './wal/wal-chunks';
import type { WalPart } from './wal/wal-chunk';

export interface RestoreOptions {
  storeDir: string;
  commitLogSegmentBytes: number;
  consumeQueueUnitsPerFile: number;
  /** Replay write-ahead chunks past the tiered segments (durability `s3`). */
  replayWal: boolean;
  /** Sizes of the index files written (the store's; the files keep theirs, so any works). */
  index?: Pick<IndexServiceConfig, 'hashSlotNum' | 'indexNum'>;
  /** Whether the record of `topic` at `commitLogOffset` belongs to a deleted topic (topic-tombstones.ts): its unit is not restored. */
  isDeleted?: (topic: string, commitLogOffset: number) => boolean;
}

export interface RestoreResult {
  restored: boolean;
  tieredSegments: number;
  /** Where the local CommitLog starts: the end of the last tiered segment. */
  tieredEnd: number;
  /** Where the log ends after the write-ahead replay. */
  logEnd: number;
  walBytes: number;
  /** Key index entries restored, and segments whose index had to be rebuilt by reading the segment. */
  indexEntries: number;
  indexRebuiltSegments: number;
  /** ConsumeQueue units left out as records of deleted topics. */
  deletedUnits: number;
}

/** Whether the store folder has no CommitLog segment (a new disk, or a wiped one). */
export function hasNoLocalCommitLog(storeDir: string): boolean {
  const dir = path.join(storeDir, 'commitlog');
  if (!fs.existsSync(dir)) return true;
  return !fs.readdirSync(dir).some((n) => fileNameToOffset(n) !== undefined);
}

export async function restoreFromTier(store: ObjectStore, manifest: TierManifest, options: RestoreOptions, logger: Logger): Promise<RestoreResult> {
  const segments = await manifest.list();
  const tieredEnd = segments.at(-1)?.endOffset ?? 0;
  const chunks = options.replayWal ? await listWalChunks(store) : [];
  const result: RestoreResult = {
    restored: false,
    tieredSegments: segments.length,
    tieredEnd,
    logEnd: tieredEnd,
    walBytes: 0,
    indexEntries: 0,
    indexRebuiltSegments: 0,
    deletedUnits: 0,
  };
  if (segments.length === 0 && !chunks.some((c) => c.end > tieredEnd)) return result;

  logger.info('tier restore: a store folder without a CommitLog, restoring from the tier', {
    tieredSegments: segments.length,
    tieredEnd,
    walChunks: chunks.length,
  });
  // Whatever else is in the folder describes a log that is gone.
  for (const sub of ['consumequeue', 'index', 'checkpoint', 'commitlog']) fs.rmSync(path.join(options.storeDir, sub), { recursive: true, force: true });
  fs.mkdirSync(path.join(options.storeDir, 'commitlog'), { recursive: true });

  const queues = new ConsumeQueueRestorer(path.join(options.storeDir, 'consumequeue'), options.consumeQueueUnitsPerFile, options.isDeleted);
  try {
    // Extracts are small (20 bytes a message); a few at a time, applied in log order.
    const PARALLEL = 4;
    for (let i = 0; i < segments.length; i += PARALLEL) {
      const batch = segments.slice(i, i + PARALLEL);
      const extracts = await Promise.all(batch.map((s) => store.getObject(s.consumeQueueKey)));
      for (const buf of extracts)
        for (const run of decodeConsumeQueueExtract(buf)) queues.append(run.topic, run.queueId, run.firstQueueOffset, run.units, run.count);
    }
  } finally {
    queues.close();
  }
  result.deletedUnits = queues.deletedUnits;
  // Before the CommitLog: a restore that fails here leaves no segment, so the next start restores again.
  await restoreKeyIndex(store, segments, options, result, logger);

  const writer = new CommitLogRestorer(path.join(options.storeDir, 'commitlog'), options.commitLogSegmentBytes, tieredEnd);
  try {
    result.logEnd = await replayWalFrom(store, chunks, tieredEnd, (parts) => {
      for (const p of parts) result.walBytes += writer.write(p);
    });
  } finally {
    writer.close();
  }
  result.restored = true;
  logger.info('tier restore: done', { ...result });
  return result;
}

/**
 * The key index of the tiered records, segment by segment in log order, into index files the
 * store's load then opens (its progress is the tiered end; the write-ahead replay indexes
 * what follows as any restart's replay does). One index extract block (~1.25 MiB) and the
 * file being written (its slot table) are in memory at a time.
 */
async function restoreKeyIndex(store: ObjectStore, segments: TieredSegment[], options: RestoreOptions, result: RestoreResult, logger: Logger): Promise<void> {
  const index = new IndexService(options.storeDir, { ...DEFAULT_INDEX_CONFIG, ...options.index }, logger);
  index.load(Number.MAX_SAFE_INTEGER);
  try {
    for (const seg of segments) {
      const key = indexExtractKey(seg.startOffset);
      try {
        result.indexEntries += (await replayIndexExtract(store, key, seg.startOffset, seg.endOffset, index)).entries;
      } catch (err) {
        if (!isMissingExtract(err) && !(err instanceof IndexExtractDamagedError)) throw err;
        // Uploaded before segments carried index extracts, or damaged: read the segment instead
        // (its whole object, in 8 MiB ranged GETs; the good blocks of a damaged one stay).
        logger.warn('tier restore: no usable index extract, indexing the tiered segment by reading it', { startOffset: seg.startOffset, err });
        try {
          result.indexEntries += await indexTieredSegment(store, seg, index);
          result.indexRebuiltSegments++;
        } catch (scanErr) {
          // A damaged or missing segment object: reads of it fail too; lookups miss its messages, the rest restores.
          if (!(scanErr instanceof CirrusError) || (scanErr.code !== 'INTERNAL' && scanErr.code !== 'TIER_OBJECT_NOT_FOUND')) throw scanErr;
          logger.error('tier restore: cannot index the tiered segment; lookups by key and id miss its messages', {
            startOffset: seg.startOffset,
            err: scanErr,
          });
        }
      }
      index.advanceTo(seg.endOffset);
    }
  } finally {
    await index.shutdown();
  }
}

const REBUILD_WINDOW_BYTES = 8 * 1024 * 1024;

/** Indexes a tiered segment from its object: each record verified as the uploader does. */
async function indexTieredSegment(store: ObjectStore, seg: TieredSegment, index: IndexService): Promise<number> {
  const hasher = new RecordKeyHasher();
  let entries = 0;
  const read = async (into: Buffer, length: number, position: number) => (await store.getRange(seg.commitLogKey, position, position + length)).copy(into);
  await scanSegment(
    read,
    seg.commitLogKey,
    seg.startOffset,
    seg.objectSize,
    (buf, pos, shape, physicalOffset) => {
      entries += hasher.hash(buf, shape);
      index.restoreRecord(hasher.hashes, physicalOffset, readInt64(buf, pos + Field.STORETIMESTAMP));
      index.flush(); // writes once enough entries are staged
    },
    REBUILD_WINDOW_BYTES,
  );
  return entries;
}

/** Writes restored ConsumeQueue units; a queue that starts inside a file gets placeholder units before it. */
class ConsumeQueueRestorer {
  private readonly queues = new Map<string, ConsumeQueue>();
  deletedUnits = 0;

  constructor(
    private readonly root: string,
    private readonly unitsPerFile: number,
    private readonly isDeleted: RestoreOptions['isDeleted'],
  ) {}

  append(topic: string, queueId: number, firstQueueOffset: number, units: Buffer, count: number): void {
    // A tombstone covers a topic's records below an offset, and a run's offsets grow: its deleted units lead it.
    let skip = 0;
    while (skip < count && this.isDeleted?.(topic, readInt64(units, skip * CQ_STORE_UNIT_SIZE + CqUnit.OFFSET))) skip++;
    if (skip > 0) {
      this.deletedUnits += skip;
      if (skip === count) return;
      units = units.subarray(skip * CQ_STORE_UNIT_SIZE);
      firstQueueOffset += skip;
      count -= skip;
    }
    const key = `${topic}\u0000${queueId}`;
    let cq = this.queues.get(key);
    if (!cq) {
      startQueueAt(path.join(this.root, topic, String(queueId)), this.unitsPerFile, firstQueueOffset);
      cq = new ConsumeQueue(topic, queueId, this.root, this.unitsPerFile);
      cq.load();
      cq.recover(0);
      this.queues.set(key, cq);
    }
    const r = cq.putMessagePositionInfos(units, 0, count, firstQueueOffset);
    if (r.status === 'GAP') throw new Error(`restore: consumequeue ${topic}/${queueId} expects offset ${r.expected}, the tier has ${firstQueueOffset}`);
  }

  close(): void {
    for (const cq of this.queues.values()) {
      cq.flush();
      cq.shutdown();
    }
  }
}

/**
 * Creates the file that holds queue offset `first`, with units below it inside the file set
 * to a placeholder (CommitLog offset 0, size 1): below the store's minimum offset, so never
 * read, yet non-zero, so recovery does not take them for the queue's end.
 */
function startQueueAt(dir: string, unitsPerFile: number, first: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const fileSize = unitsPerFile * CQ_STORE_UNIT_SIZE;
  const base = Math.floor(first / unitsPerFile) * unitsPerFile;
  const file = MappedFile.create(dir, base * CQ_STORE_UNIT_SIZE, fileSize);
  try {
    const placeholders = first - base;
    if (placeholders > 0) {
      const buf = Buffer.alloc(placeholders * CQ_STORE_UNIT_SIZE);
      for (let i = 0; i < placeholders; i++) buf.writeInt32BE(1, i * CQ_STORE_UNIT_SIZE + CqUnit.SIZE);
      file.appendSync(buf, buf.length);
    }
    file.flush();
  } finally {
    file.close();
  }
}

/** Writes write-ahead parts into CommitLog segment files, from `start` on. */
class CommitLogRestorer {
  private file: MappedFile;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    start: number,
  ) {
    this.file = MappedFile.create(dir, start, segmentBytes);
  }

  write(part: WalPart): number {
    if (part.physicalOffset >= this.file.fileFromOffset + this.file.fileSize) this.next();
    const expected = this.file.fileFromOffset + this.file.wrotePosition;
    if (part.physicalOffset !== expected) throw new Error(`restore: write-ahead part at ${part.physicalOffset}, the log is at ${expected}`);
    if (part.bytes.length > 0) this.file.appendSync(part.bytes, part.bytes.length);
    if (part.endOffset >= this.file.fileFromOffset + this.file.fileSize) this.next();
    return part.bytes.length;
  }

  private next(): void {
    const from = this.file.fileFromOffset + this.file.fileSize;
    this.file.flush();
    this.file.close();
    this.file = MappedFile.create(this.dir, from, this.segmentBytes);
  }

  close(): void {
    this.file.flush();
    this.file.close();
  }
}
