/**
 * Durability level `s3`: a send is acknowledged only once its bytes are in a write-ahead
 * chunk in the object store, so losing the container and its disk loses no acknowledged
 * message (what WarpStream and AutoMQ sell; RocketMQ needs replicas for it).
 *
 * Group commit, as the SYNC_FLUSH group commit does with fdatasync: appends copy their bytes
 * into the open chunk; the chunk is cut when the window (s3WalWindowMs) passes or it reaches
 * maxChunkBytes, and uploaded while the next one fills. Up to maxInFlight chunks upload at
 * once, but acks go out in log order: a send is acknowledged once every chunk up to its
 * end is stored (durableEnd), so a restore that replays the contiguous run of chunks has
 * every acknowledged byte. A failed upload is retried with backoff until it succeeds; a
 * send waiting longer than ackTimeoutMs is answered FLUSH_S3_TIMEOUT (stored locally, not
 * yet known durable, as RocketMQ's FLUSH_SLAVE_TIMEOUT) while the upload goes on.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../../periodic-service';
import { retryWithBackoff } from '../../retry';
import type { ObjectStore } from '../object-store';
import { PART_HEADER_BYTES, WAL_TRAILER_BYTES, walChunkKey, writePartHeader, writeTrailer } from './wal-chunk';

export interface S3WalConfig {
  /** The group-commit window: how long the first byte of a chunk waits for company. */
  windowMs: number;
  /** A chunk is cut early at this size. */
  maxChunkBytes: number;
  maxInFlight: number;
  ackTimeoutMs: number;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
}

export type WalAckStatus = 'PUT_OK' | 'FLUSH_S3_TIMEOUT';

/** One written part of an append, as bytes of a buffer that is reused after the call. */
export interface WalAppendPart {
  physicalOffset: number;
  bufStart: number;
  bufEnd: number;
  endOffset: number;
}

interface Chunk {
  start: number;
  end: number;
  body: Buffer;
  uploading: boolean;
  done: boolean;
}

interface Waiter {
  end: number;
  deadline: number;
  resolve: (status: WalAckStatus) => void;
}

export interface S3WalStats {
  /** Everything before it is in the object store. */
  durableEnd: number;
  /** Bytes appended but not yet in the object store. */
  pendingBytes: number;
  chunksUploaded: number;
  bytesUploaded: number;
  uploadFailures: number;
  ackTimeouts: number;
}

export class S3WalService {
  private buf: Buffer;
  private len = 0;
  private partCount = 0;
  private chunkStart = 0;
  /** The log's end after the last append. */
  private appendedEnd = 0;
  private windowTimer: NodeJS.Timeout | undefined;
  /** Answers FLUSH_S3_TIMEOUT to sends past their deadline, a few times per ackTimeoutMs. */
  private readonly sweepService: PeriodicService;
  private readonly chunks: Chunk[] = [];
  private inFlight = 0;
  private readonly waiters: Waiter[] = [];
  private waiterHead = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private drained: (() => void) | undefined;
  readonly stats: S3WalStats = { durableEnd: 0, pendingBytes: 0, chunksUploaded: 0, bytesUploaded: 0, uploadFailures: 0, ackTimeouts: 0 };

  constructor(
    private readonly store: ObjectStore,
    private readonly config: S3WalConfig,
    private readonly logger: Logger,
  ) {
    this.buf = Buffer.allocUnsafe(this.chunkCapacity(0));
    const sweepIntervalMs = Math.min(1000, Math.max(10, config.ackTimeoutMs / 4));
    this.sweepService = new PeriodicService('S3WalAckTimeoutSweep', sweepIntervalMs, () => this.sweepTimeouts(), logger);
  }

  /** Starts at `durableEnd`: the log offset before which everything is already in the store (tiered or in chunks). */
  start(durableEnd: number): void {
    this.stats.durableEnd = durableEnd;
    this.chunkStart = durableEnd;
    this.appendedEnd = durableEnd;
    this.sweepService.start();
  }

  get durableEnd(): number {
    return this.stats.durableEnd;
  }

  /**
   * Copies an append's parts into the open chunk; resolves once they are in the store. The
   * parts must continue the log where the last append ended (the CommitLog's one writer).
   */
  append(source: Buffer, parts: readonly WalAppendPart[]): Promise<WalAckStatus> {
    if (this.stopped) return Promise.resolve('FLUSH_S3_TIMEOUT');
    let bytes = 0;
    for (const p of parts) bytes += PART_HEADER_BYTES + (p.bufEnd - p.bufStart);
    if (this.len > 0 && this.len + bytes + WAL_TRAILER_BYTES > this.buf.length) this.cut();
    if (bytes + WAL_TRAILER_BYTES > this.buf.length) this.buf = Buffer.allocUnsafe(this.chunkCapacity(bytes));
    for (const p of parts) {
      const length = p.bufEnd - p.bufStart;
      writePartHeader(this.buf, this.len, p.physicalOffset, length, p.endOffset);
      source.copy(this.buf, this.len + PART_HEADER_BYTES, p.bufStart, p.bufEnd);
      this.len += PART_HEADER_BYTES + length;
      this.partCount++;
      this.appendedEnd = p.endOffset;
    }
    this.stats.pendingBytes = this.appendedEnd - this.stats.durableEnd;
    const end = this.appendedEnd;
    const ack = new Promise<WalAckStatus>((resolve) => this.waiters.push({ end, deadline: Date.now() + this.config.ackTimeoutMs, resolve }));
    if (this.len >= this.config.maxChunkBytes) this.cut();
    else if (!this.windowTimer) this.windowTimer = setTimeout(() => this.cut(), this.config.windowMs);
    return ack;
  }

  private chunkCapacity(atLeast: number): number {
    return Math.max(this.config.maxChunkBytes, atLeast) + 64 * 1024 + WAL_TRAILER_BYTES;
  }

  /** Closes the open chunk and queues it for upload. */
  private cut(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    if (this.partCount === 0) return;
    const length = writeTrailer(this.buf, this.len, this.partCount);
    this.chunks.push({ start: this.chunkStart, end: this.appendedEnd, body: this.buf.subarray(0, length), uploading: false, done: false });
    this.buf = Buffer.allocUnsafe(this.chunkCapacity(0));
    this.len = 0;
    this.partCount = 0;
    this.chunkStart = this.appendedEnd;
    this.pump();
  }

  private pump(): void {
    for (const chunk of this.chunks) {
      if (this.inFlight >= this.config.maxInFlight) return;
      if (chunk.uploading || chunk.done) continue;
      chunk.uploading = true;
      this.inFlight++;
      void this.upload(chunk);
    }
  }

  private async upload(chunk: Chunk): Promise<void> {
    const key = walChunkKey(chunk.start, chunk.end);
    try {
      await retryWithBackoff(() => this.store.putObject(key, chunk.body), {
        initialDelayMs: this.config.retryInitialDelayMs ?? 200,
        maxDelayMs: this.config.retryMaxDelayMs ?? 5_000,
        signal: this.abort.signal,
        onRetry: (err, attempt, delayMs) => {
          this.stats.uploadFailures++;
          this.logger.warn('s3 wal: chunk upload failed, retrying', { key, attempt, delayMs, err });
        },
      });
    } catch (err) {
      // Only an abort (shutdown) ends the retries; the chunk's sends are answered by the sweep.
      this.logger.warn('s3 wal: chunk upload abandoned at shutdown', { key, err });
      chunk.uploading = false;
      this.inFlight--;
      return;
    }
    this.inFlight--;
    chunk.done = true;
    this.stats.chunksUploaded++;
    this.stats.bytesUploaded += chunk.body.length;
    this.advance();
    this.pump();
  }

  /** Moves durableEnd over the uploaded chunks at the head, in order, and acknowledges. */
  private advance(): void {
    let n = 0;
    while (n < this.chunks.length && this.chunks[n]!.done) n++;
    if (n === 0) return;
    this.stats.durableEnd = this.chunks[n - 1]!.end;
    this.chunks.splice(0, n);
    this.stats.pendingBytes = this.appendedEnd - this.stats.durableEnd;
    const durable = this.stats.durableEnd;
    while (this.waiterHead < this.waiters.length && this.waiters[this.waiterHead]!.end <= durable) {
      this.waiters[this.waiterHead++]!.resolve('PUT_OK');
    }
    this.compactWaiters();
    if (this.chunks.length === 0 && this.partCount === 0) this.drained?.();
  }

  private sweepTimeouts(): void {
    const now = Date.now();
    let expired = 0;
    while (this.waiterHead < this.waiters.length && this.waiters[this.waiterHead]!.deadline <= now) {
      this.waiters[this.waiterHead++]!.resolve('FLUSH_S3_TIMEOUT');
      expired++;
    }
    if (expired > 0) {
      this.stats.ackTimeouts += expired;
      this.logger.warn('s3 wal: sends not in the object store within ackTimeoutMs, answering FLUSH_S3_TIMEOUT', {
        sends: expired,
        ackTimeoutMs: this.config.ackTimeoutMs,
        pendingBytes: this.stats.pendingBytes,
      });
      this.compactWaiters();
    }
  }

  private compactWaiters(): void {
    if (this.waiterHead > 1024 && this.waiterHead * 2 > this.waiters.length) {
      this.waiters.splice(0, this.waiterHead);
      this.waiterHead = 0;
    }
  }

  /** Cuts the open chunk and waits (at most timeoutMs) until everything appended is stored. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.cut();
    if (this.chunks.length === 0) return true;
    const drained = new Promise<boolean>((resolve) => {
      this.drained = () => resolve(true);
    });
    const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([drained, timer]);
  }

  /** Stops: what is not stored by now is answered FLUSH_S3_TIMEOUT (it is in the local log). */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    const ok = await this.flush(timeoutMs);
    if (!ok) this.logger.warn('s3 wal: shutdown before every chunk was stored', { pendingBytes: this.stats.pendingBytes });
    this.stopped = true;
    this.abort.abort();
    await this.sweepService.shutdown();
    for (; this.waiterHead < this.waiters.length; this.waiterHead++) this.waiters[this.waiterHead]!.resolve('FLUSH_S3_TIMEOUT');
    this.waiters.length = 0;
    this.waiterHead = 0;
  }

  /** Tests: stop as kill -9 would, nothing more uploaded, nobody answered. */
  abandon(): void {
    this.stopped = true;
    this.abort.abort();
    if (this.windowTimer) clearTimeout(this.windowTimer);
    // The sweep never waits (it only answers), so nothing is in flight to wait for.
    void this.sweepService.shutdown();
  }
}
