/**
 * The CommitLog: one append-only log per broker that every topic-queue shares, in segment
 * files under {storeDir}/commitlog/. Records use the one layout of client/src/codec/record.ts.
 *
 * A record never straddles two segments. When the next record does not fit, the segment's
 * tail gets a BLANK record (only its 8-byte head is written: the rest is already zeros) and
 * the record goes to the next segment:
 *
 *   segment N:   | rec | rec | rec | BLANK(TOTALSIZE = rest, MAGIC = BLANK_MAGIC) ...zeros |
 *   segment N+1: | rec | rec | ...
 *
 * Invariant: after any record, a segment's remaining space is 0 or >= MIN_BLANK_SIZE (8), so
 * a BLANK head always fits. A record goes in only if it fills the segment exactly or leaves
 * room for a BLANK after it.
 *
 * An append copies the batch's records into ONE reused write buffer, stamps each (queue id,
 * queue offset, physical offset, store time, CRC) and writes each segment's part with one
 * writeSync: a new buffer per batch halves throughput (docs/architecture.md, "Figures the design rests on").
 */
import path from 'node:path';
import { CirrusError, type Logger, MIN_BLANK_SIZE, type SendBatch, stampRecord, viewOf, writeBlankRecord } from '@cirrusmq/client/protocol';
import { MappedFileQueue } from './mapped-file-queue';
import type { DataSync, MappedFile } from './mapped-file';
import { SegmentScanner, type RecordVisitor, type ScanStatus } from './segment-scanner';

/** The bytes of one segment written by one append: records in [bufStart, recordsEnd), then maybe a BLANK head. */
export interface AppendPart {
  fileFromOffset: number;
  /** Where the part starts inside its segment. */
  filePosition: number;
  bufStart: number;
  recordsEnd: number;
  bufEnd: number;
  /** The part ends with a BLANK (or a tail too small for one): the segment is full after it. */
  seal: boolean;
}

export interface AppendResult {
  /** Physical offset of the batch's first record. */
  commitLogOffset: number;
  count: number;
  /** Record bytes written (fillers excluded). */
  bytes: number;
  /** The write buffer and its parts: valid until the next append (the dispatcher reads them at once). */
  buffer: Buffer;
  parts: readonly AppendPart[];
  /** Per record of the batch: where it starts in `buffer`, and its CommitLog offset (reused arrays, valid as `buffer` is). */
  recordPositions: readonly number[];
  physicalOffsets: readonly number[];
  firstQueueOffset: number;
  storeTimestamp: number;
}

const INITIAL_WRITE_BUFFER = 1024 * 1024;

export interface CommitLogOptions {
  /** fdatasync for flushAsync (tests inject a counting or slow one). */
  dataSync?: DataSync;
  /** Zero-fill the next segment ahead of time (off by default; allocate-mapped-file-service.ts). */
  preallocate?: boolean;
}

/** A replay done in recovery's walk (CommitLog.recover): every valid record from `fromOffset` to the end goes to `visit`. */
export interface RecoveryReplay {
  fromOffset: number;
  visit: RecordVisitor;
}

/** Where a walk over the log stopped, and why. */
export interface WalkResult {
  offset: number;
  status: ScanStatus | 'NO_SEGMENT';
  reason?: string;
  /** Offset of the first record whose CRC was checked (-1: none). */
  firstVerified?: number;
}

export class CommitLog {
  readonly mappedFileQueue: MappedFileQueue;
  private writeBuffer: Buffer = Buffer.allocUnsafe(INITIAL_WRITE_BUFFER);
  private writeView: DataView = viewOf(this.writeBuffer);
  /** Reused per append: parts are few (usually one). */
  private readonly parts: AppendPart[] = [];
  /** Reused per append: where each record of the batch landed in the write buffer and the log. */
  private readonly recBufPos: number[] = [];
  private readonly recPhysical: number[] = [];
  /** Store time of the last record appended (the checkpoint's physicMsgTimestamp). */
  lastStoreTimestamp = 0;
  /** Where the last recover() started verifying, and where the log ended (logs, tests). */
  lastRecovery: { fromOffset: number; endOffset: number } | undefined;

  constructor(
    storeDir: string,
    readonly segmentBytes: number,
    private readonly logger: Logger,
    options: CommitLogOptions = {},
  ) {
    this.mappedFileQueue = new MappedFileQueue(path.join(storeDir, 'commitlog'), segmentBytes, {
      dataSync: options.dataSync,
      preallocate: options.preallocate,
      logger,
    });
  }

  load(): void {
    this.mappedFileQueue.load();
  }

  /**
   * Finds where the valid log ends after a crash and truncates the torn tail; returns the end.
   *
   * `checkpointOffset` is the flushed offset of the last checkpoint: every record before it
   * was fdatasync'd before the checkpoint was written, so only the records from there on can
   * be torn, and only those are read and verified (CRC, shape, PHYSICALOFFSET), crossing
   * BLANK fillers into later segments:
   *
   *   | durable, not read ... | verified record | verified | torn/garbled | ...  -> truncated here
   *                           ^checkpointOffset                         ^end
   *
   * No checkpoint (a new store, or one written before checkpoints): the whole log is verified.
   * A checkpoint past the end of the files (the files lost data under it): the last segment
   * is verified from its start. When the very first record at the checkpoint fails, the
   * checkpoint may not sit on a record boundary at all, so its segment is verified from the
   * start instead; the answer is the same when it does, only slower.
   *
   * `replay` (the startup reput, dispatcher.ts) visits every valid record from its
   * `fromOffset` to the end in the same walk, so the tail is read and parsed once, not once
   * to verify and again to replay. Records before the checkpoint are visited without a CRC
   * check (they were on disk when it was written); none past the torn point is visited.
   */
  recover(checkpointOffset?: number, replay?: RecoveryReplay): number {
    const files = this.mappedFileQueue.mappedFiles;
    if (files.length === 0) return 0;
    const last = files.at(-1)!;
    const filesEnd = last.fileFromOffset + last.fileSize;
    let start: number;
    if (checkpointOffset === undefined) {
      start = this.getMinOffset();
      this.logger.info('commitlog: no checkpoint, verifying the whole log', { fromOffset: start, segments: files.length });
    } else if (checkpointOffset > filesEnd) {
      start = last.fileFromOffset;
      this.logger.warn('commitlog: checkpoint is past the end of the files, verifying the last segment', { checkpointOffset, filesEnd });
    } else {
      start = Math.max(checkpointOffset, this.getMinOffset());
    }
    let verifiedFrom = start;
    // With a replay that starts earlier, the walk starts there and checks CRCs from `start` on.
    const walkFrom = replay ? Math.min(start, Math.max(replay.fromOffset, this.getMinOffset())) : start;
    const visitFrom = replay ? replay.fromOffset : Infinity;
    let result = this.walk(walkFrom, replay?.visit, start, visitFrom);
    // A walk from before the checkpoint also verified a record that straddles it (the
    // checkpoint is not on a record boundary): verification began at that record.
    if (walkFrom < start && result.firstVerified !== undefined && result.firstVerified >= 0) verifiedFrom = Math.min(verifiedFrom, result.firstVerified);
    if (result.status === 'CORRUPT' && result.offset < start) {
      // A bad record before the checkpoint (its data was synced: a disk fault). As the
      // separate replay did, the replay stops there; the log itself is judged from `start`.
      this.logger.error('commitlog: replay stopped at a corrupt record before the checkpoint', {
        offset: result.offset,
        reason: result.reason,
        checkpointOffset: start,
      });
      result = this.walk(start, undefined, start, Infinity);
    }
    const holder = this.findMappedFileByOffset(start);
    if (result.status === 'CORRUPT' && result.offset === start && holder && holder.fileFromOffset < start) {
      this.logger.warn('commitlog: the record at the checkpoint does not verify, verifying its segment from the start', {
        checkpointOffset: start,
        reason: result.reason,
      });
      verifiedFrom = holder.fileFromOffset;
      // Records the first walk visited (before `start`) are not visited again.
      result = this.walk(verifiedFrom, replay?.visit, verifiedFrom, Math.max(visitFrom, start));
    }
    if (result.status === 'CORRUPT') {
      this.logger.warn('commitlog: truncating a torn or corrupt tail', { offset: result.offset, reason: result.reason, droppedUpTo: filesEnd });
    }
    this.mappedFileQueue.truncateDirtyFiles(result.offset);
    this.lastRecovery = { fromOffset: verifiedFrom, endOffset: result.offset };
    this.logger.info('commitlog: recovered', { verifiedFrom, endOffset: result.offset, verifiedBytes: result.offset - verifiedFrom });
    return result.offset;
  }

  getMinOffset(): number {
    return this.mappedFileQueue.getMinOffset();
  }

  getMaxOffset(): number {
    return this.mappedFileQueue.getMaxOffset();
  }

  /**
   * Appends a decoded send batch; record i gets queue offset `firstQueueOffset + i`.
   * Lays the whole batch out first (so a record too big for any segment fails before any
   * write), then writes one part per segment touched.
   *
   * `ofQueues` (a put of several queues' records in one write, MessageStore.putMessagesOfQueues):
   * record i gets queue id `queueIds[i]` and queue offset `queueOffsets[i]` instead.
   */
  putMessages(
    batch: SendBatch,
    firstQueueOffset: number,
    storeTimestamp: number,
    ofQueues?: { queueIds: readonly number[]; queueOffsets: readonly number[] },
  ): AppendResult {
    const { records, body, queueId } = batch;
    for (const r of records) {
      if (r.shape.size > this.segmentBytes) {
        throw new CirrusError('PAYLOAD_TOO_LARGE', `a record of ${r.shape.size} bytes does not fit in a ${this.segmentBytes}-byte CommitLog segment`);
      }
    }
    const parts = this.parts;
    parts.length = 0;

    // Where the first byte goes: the end of the last segment, or the start of a fresh one.
    const last = this.mappedFileQueue.getLastMappedFile();
    let segFrom: number;
    let segSize: number;
    let segPos: number;
    if (last && !last.isFull()) {
      segFrom = last.fileFromOffset;
      segSize = last.fileSize;
      segPos = last.wrotePosition;
    } else {
      segFrom = last ? last.fileFromOffset + last.fileSize : 0;
      segSize = this.segmentBytes;
      segPos = 0;
    }

    let buf = this.writeBuffer;
    let bufPos = 0;
    let partStart = 0;
    let partFilePos = segPos;
    let bytes = 0;
    const recBufPos = this.recBufPos;
    const recPhysical = this.recPhysical;
    recBufPos.length = records.length;
    recPhysical.length = records.length;
    // The records of a send batch lie back to back in its body: they are copied in runs (one
    // copy per segment part, not one per record), then stamped.
    let runSrc = 0;
    let runDst = 0;
    let runLen = 0;
    const copyRun = () => {
      if (runLen > 0) body.copy(buf, runDst, runSrc, runSrc + runLen);
      runLen = 0;
    };
    for (let i = 0; i < records.length; i++) {
      const { pos, shape } = records[i]!;
      const size = shape.size;
      const remaining = segSize - segPos;
      if (size !== remaining && size + MIN_BLANK_SIZE > remaining) {
        // Does not fit: close this segment with a BLANK, continue at the next one.
        copyRun();
        const recordsEnd = bufPos;
        if (remaining >= MIN_BLANK_SIZE) {
          buf = this.ensureCapacity(bufPos + MIN_BLANK_SIZE);
          writeBlankRecord(buf, bufPos, remaining);
          bufPos += MIN_BLANK_SIZE;
        }
        parts.push({ fileFromOffset: segFrom, filePosition: partFilePos, bufStart: partStart, recordsEnd, bufEnd: bufPos, seal: true });
        segFrom += segSize;
        segSize = this.segmentBytes;
        segPos = 0;
        partStart = bufPos;
        partFilePos = 0;
      }
      if (bufPos + size > buf.length) {
        copyRun(); // the bytes so far move with the buffer as it grows
        buf = this.ensureCapacity(bufPos + size);
      }
      if (runLen > 0 && pos !== runSrc + runLen) copyRun();
      if (runLen === 0) {
        runSrc = pos;
        runDst = bufPos;
      }
      runLen += size;
      recBufPos[i] = bufPos;
      recPhysical[i] = segFrom + segPos;
      bufPos += size;
      segPos += size;
      bytes += size;
    }
    copyRun();
    const view = this.writeView;
    if (ofQueues) {
      for (let i = 0; i < records.length; i++) {
        stampRecord(buf, recBufPos[i]!, records[i]!.shape.size, ofQueues.queueIds[i]!, ofQueues.queueOffsets[i]!, recPhysical[i]!, storeTimestamp, view);
      }
    } else {
      for (let i = 0; i < records.length; i++) {
        stampRecord(buf, recBufPos[i]!, records[i]!.shape.size, queueId, firstQueueOffset + i, recPhysical[i]!, storeTimestamp, view);
      }
    }
    const commitLogOffset = recPhysical[0] ?? -1;
    parts.push({ fileFromOffset: segFrom, filePosition: partFilePos, bufStart: partStart, recordsEnd: bufPos, bufEnd: bufPos, seal: false });

    const rollbackTo = this.getMaxOffset();
    try {
      for (const part of parts) this.writePart(buf, part);
    } catch (e) {
      // A failed write (disk full) must not leave half a batch: the log ends before it again.
      this.mappedFileQueue.truncateDirtyFiles(rollbackTo);
      throw e;
    }
    this.lastStoreTimestamp = storeTimestamp;
    return {
      commitLogOffset,
      count: records.length,
      bytes,
      buffer: buf,
      parts,
      recordPositions: recBufPos,
      physicalOffsets: recPhysical,
      firstQueueOffset,
      storeTimestamp,
    };
  }

  private writePart(buf: Buffer, part: AppendPart): void {
    const length = part.bufEnd - part.bufStart;
    if (length === 0 && !part.seal) return;
    const file = this.mappedFileQueue.getLastMappedFileOrCreate(part.fileFromOffset);
    if (file.fileFromOffset !== part.fileFromOffset || file.wrotePosition !== part.filePosition) {
      throw new CirrusError('INTERNAL', `commitlog layout mismatch at ${part.fileFromOffset}+${part.filePosition}`);
    }
    if (length > 0) file.appendSync(buf, length, part.bufStart);
    if (part.seal) file.seal();
  }

  /** Grows the write buffer (keeping its bytes) when a batch needs more; never shrinks. */
  private ensureCapacity(needed: number): Buffer {
    if (needed <= this.writeBuffer.length) return this.writeBuffer;
    let size = this.writeBuffer.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.writeBuffer.copy(grown, 0, 0, this.writeBuffer.length);
    this.writeBuffer = grown;
    this.writeView = viewOf(grown);
    return grown;
  }

  /** The segment holding `offset`, for readers that batch their reads. */
  findMappedFileByOffset(offset: number): MappedFile | undefined {
    return this.mappedFileQueue.findMappedFileByOffset(offset);
  }

  /** The `size` bytes of the record at `physicalOffset` (a new buffer), or undefined if not stored. */
  getMessage(physicalOffset: number, size: number): Buffer | undefined {
    const file = this.findMappedFileByOffset(physicalOffset);
    if (!file) return undefined;
    const buf = file.read(physicalOffset - file.fileFromOffset, size);
    return buf.length === size ? buf : undefined;
  }

  /**
   * Visits every valid record from `fromOffset` to the end of the log, crossing BLANKs into
   * the next segment. Returns the offset where the walk stopped.
   */
  scanFrom(fromOffset: number, visit: RecordVisitor, options: { verifyCrc?: boolean } = {}): number {
    const result = this.walk(fromOffset, visit, (options.verifyCrc ?? true) ? 0 : Infinity, 0);
    if (result.status === 'CORRUPT') this.logger.warn('commitlog: scan stopped at a corrupt record', { offset: result.offset, reason: result.reason });
    return result.offset;
  }

  /**
   * The walk behind recover and scanFrom: reads segments through a bounded window
   * (segment-scanner.ts), checking the CRC of records from log offset `verifyFrom` on and
   * visiting those from `visitFrom` on.
   */
  private walk(fromOffset: number, visit?: RecordVisitor, verifyFrom = 0, visitFrom = 0): WalkResult {
    const scanner = new SegmentScanner();
    let offset = Math.max(fromOffset, this.getMinOffset());
    for (;;) {
      const file = this.findMappedFileByOffset(offset);
      if (!file) return { offset, status: 'NO_SEGMENT', firstVerified: scanner.firstVerified };
      const result = scanner.scan(file, offset - file.fileFromOffset, {
        visit,
        verifyFrom: verifyFrom - file.fileFromOffset,
        visitFrom: visitFrom - file.fileFromOffset,
      });
      if (result.status !== 'SEGMENT_FULL') {
        return { offset: file.fileFromOffset + result.position, status: result.status, reason: result.reason, firstVerified: scanner.firstVerified };
      }
      offset = file.fileFromOffset + file.fileSize;
    }
  }

  /** Everything before this offset is on disk (fdatasync'd). */
  getFlushedOffset(): number {
    return this.mappedFileQueue.getFlushedWhere();
  }

  flush(): void {
    this.mappedFileQueue.flush();
  }

  /** fdatasync everything written before the call (shared with a flush in flight when possible). */
  flushAsync(): Promise<void> {
    return this.mappedFileQueue.flushAsync();
  }

  /** Starts preparing the next segment (after recovery). */
  prepareNextSegment(): void {
    this.mappedFileQueue.prepareNext();
  }

  /** Stops the segment preparation before the files close. */
  stopAllocating(): Promise<void> {
    return this.mappedFileQueue.stopAllocating();
  }

  shutdown(): void {
    this.mappedFileQueue.shutdown();
  }
}
