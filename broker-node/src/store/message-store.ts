/**
 * DefaultMessageStore: the CommitLog, the ConsumeQueues that index it, the dispatcher that
 * builds them and the flush service, behind the MessageStore interface the server uses.
 *
 *   putMessages(batch) -> CommitLog.putMessages (one write) -> Dispatcher -> ConsumeQueue
 *   getMessage(topic, queueId, offset) -> ConsumeQueue units -> CommitLog reads
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
import { CQ_STORE_UNIT_SIZE, ConsumeQueue, CqUnit } from './consume-queue';
import { readInt64 } from '../../../client/src/codec/int64';
import { CommitLogDispatcherBuildConsumeQueue, Dispatcher } from './dispatcher';
import { FlushRealTimeService, type FlushCommitLogService } from './flush-service';

export interface MessageStoreConfig {
  storeDir: string;
  commitLogSegmentBytes: number;
  consumeQueueUnitsPerFile: number;
  flushIntervalMs: number;
}

export interface PutMessageResult {
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
  commitLogMinOffset: number;
  commitLogMaxOffset: number;
}

/** The store as the broker's server sees it: the seam for tiered and other stores. */
export interface MessageStore {
  putMessages(batch: SendBatch): PutMessageResult;
  getMessage(topic: string, queueId: number, offset: number, maxMsgs: number): GetMessageResult;
  stats(): StoreStats;
  isOpen(): boolean;
  flush(): void;
  shutdown(): Promise<void>;
}

/** One read answers at most this many bytes (and always at least one record), so a read of 1024 big messages cannot eat memory. */
export const MAX_READ_BYTES = 8 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const queueKey = (topic: string, queueId: number): string => `${topic}-${queueId}`;

export class DefaultMessageStore implements MessageStore {
  readonly commitLog: CommitLog;
  private readonly consumeQueueTable = new Map<string, Map<number, ConsumeQueue>>();
  /** Next queue offset per topic-queue ("topic-queueId"), as RocketMQ's topicQueueTable. */
  readonly topicQueueTable = new Map<string, number>();
  private readonly cqRoot: string;
  private readonly dispatcher: Dispatcher;
  private readonly flushService: FlushCommitLogService;
  private open = false;
  private putMessagesTotal = 0;
  private putBytesTotal = 0;

  constructor(
    private readonly config: MessageStoreConfig,
    private readonly logger: Logger,
  ) {
    this.commitLog = new CommitLog(config.storeDir, config.commitLogSegmentBytes, logger);
    this.cqRoot = path.join(config.storeDir, 'consumequeue');
    this.dispatcher = new Dispatcher([new CommitLogDispatcherBuildConsumeQueue((t, q) => this.findConsumeQueue(t, q), logger)], logger);
    this.flushService = new FlushRealTimeService(
      [this.commitLog, { flushAsync: () => this.flushConsumeQueuesAsync() }],
      config.flushIntervalMs,
      logger,
    );
  }

  /** Opens and recovers: CommitLog tail, ConsumeQueues, reput of what they miss, topicQueueTable. */
  load(): this {
    fs.mkdirSync(this.config.storeDir, { recursive: true });
    this.commitLog.load();
    this.commitLog.recover();
    this.loadConsumeQueues();
    const maxPhysical = this.commitLog.getMaxOffset();
    let reputFrom = this.commitLog.getMinOffset();
    for (const cq of this.allConsumeQueues()) {
      cq.recover();
      cq.truncateDirtyLogicFiles(maxPhysical);
      reputFrom = Math.max(reputFrom, cq.getMaxPhysicOffset());
    }
    this.dispatcher.reput(this.commitLog, reputFrom);
    for (const cq of this.allConsumeQueues()) this.topicQueueTable.set(queueKey(cq.topic, cq.queueId), cq.getMaxOffsetInQueue());
    this.open = true;
    this.flushService.start();
    this.logger.info('message store loaded', {
      storeDir: this.config.storeDir,
      commitLogMinOffset: this.commitLog.getMinOffset(),
      commitLogMaxOffset: maxPhysical,
      consumeQueues: this.topicQueueTable.size,
    });
    return this;
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

  putMessages(batch: SendBatch): PutMessageResult {
    this.checkOpen();
    const key = queueKey(batch.topic, batch.queueId);
    const queueOffset = this.topicQueueTable.get(key) ?? 0;
    const result = this.commitLog.putMessages(batch, queueOffset, Date.now());
    this.topicQueueTable.set(key, queueOffset + result.count);
    this.dispatcher.dispatchAppend(result);
    this.putMessagesTotal += result.count;
    this.putBytesTotal += result.bytes;
    return { queueOffset, count: result.count, commitLogOffset: result.commitLogOffset };
  }

  getMessage(topic: string, queueId: number, offset: number, maxMsgs: number): GetMessageResult {
    this.checkOpen();
    const cq = this.getConsumeQueue(topic, queueId);
    if (!cq) return { records: EMPTY, count: 0, nextOffset: 0, minOffset: 0, maxOffset: 0 };
    const minOffset = cq.getMinOffsetInQueue();
    const maxOffset = cq.getMaxOffsetInQueue();
    if (offset < minOffset) return { records: EMPTY, count: 0, nextOffset: minOffset, minOffset, maxOffset };
    if (offset >= maxOffset) return { records: EMPTY, count: 0, nextOffset: maxOffset, minOffset, maxOffset };

    // Collect the units first (offsets, sizes), then size one answer buffer and fill it.
    const offsets: number[] = [];
    const sizes: number[] = [];
    let total = 0;
    let next = offset;
    outer: while (offsets.length < maxMsgs && next < maxOffset) {
      const units = cq.getIndexBuffer(next, maxMsgs - offsets.length);
      if (!units) break;
      for (let p = 0; p < units.length; p += CQ_STORE_UNIT_SIZE) {
        const size = units.readInt32BE(p + CqUnit.SIZE);
        if (offsets.length > 0 && total + size > MAX_READ_BYTES) break outer;
        next++;
        if (size <= 0) continue;
        offsets.push(readInt64(units, p + CqUnit.OFFSET));
        sizes.push(size);
        total += size;
      }
    }
    const records = Buffer.allocUnsafe(total);
    let filled = 0;
    let count = 0;
    // Adjacent records in one segment (a batch) are read with one pread.
    for (let i = 0; i < offsets.length; ) {
      const start = offsets[i]!;
      const file = this.commitLog.findMappedFileByOffset(start);
      let end = start + sizes[i]!;
      let j = i + 1;
      while (file && j < offsets.length && offsets[j] === end && end + sizes[j]! <= file.fileFromOffset + file.fileSize) end += sizes[j++]!;
      const n = file ? file.readInto(start - file.fileFromOffset, records, filled, end - start) : 0;
      if (n !== end - start) {
        throw new CirrusError('INTERNAL', `consumequeue ${topic}/${queueId} points at ${start}..${end}, not in the commitlog`);
      }
      filled += n;
      count += j - i;
      i = j;
    }
    return { records, count, nextOffset: next, minOffset, maxOffset };
  }

  stats(): StoreStats {
    return {
      putMessagesTotal: this.putMessagesTotal,
      putBytesTotal: this.putBytesTotal,
      commitLogMinOffset: this.commitLog.getMinOffset(),
      commitLogMaxOffset: this.commitLog.getMaxOffset(),
    };
  }

  private async flushConsumeQueuesAsync(): Promise<void> {
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
    await this.flushService.shutdown();
    this.commitLog.flush();
    this.commitLog.shutdown();
    for (const cq of this.allConsumeQueues()) {
      cq.flush();
      cq.shutdown();
    }
    this.logger.info('message store shut down', { commitLogMaxOffset: this.commitLog.getMaxOffset() });
  }
}
