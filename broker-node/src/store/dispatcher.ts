/**
 * RocketMQ's ReputMessageService and CommitLogDispatcher: the append writes only the
 * CommitLog; this turns the records into DispatchRequests for the indexes (the ConsumeQueue
 * and the key index). It runs
 *   - right after each append, over the bytes just written (still in the write buffer),
 *     so a read right after a send sees the message;
 *   - at startup, from the reput offset to the CommitLog's end, reading the log from disk,
 *     so every index can be rebuilt from the log.
 */
import { type Logger, type RecordShape, type SendBatch, viewOf } from '@cirrusmq/client/protocol';
import type { AppendResult, CommitLog, RecoveryReplay } from './commit-log';
import { CQ_STORE_UNIT_SIZE, writeCqUnit, type ConsumeQueue } from './consume-queue';
import { RecordDispatchRequest, type DispatchRequest } from './dispatch-request';

export type { DispatchRequest } from './dispatch-request';

/**
 * One index built from the CommitLog. `flush` ends a run of dispatches (an append, a reput step).
 *
 * The request is one reused object (dispatch-request.ts): valid only during the call.
 *
 * Recovery replays the log from the lowest progress of all indexes (the checkpoint's, and
 * each index's own maxPhysicalOffset()), so `dispatch` may get records an index already
 * holds: it must skip them (the ConsumeQueue does by queue offset).
 */
export interface CommitLogDispatcher {
  dispatch(request: DispatchRequest): void;
  flush(): void;
  /**
   * For an index with its own persistence (the key/id index): the CommitLog offset below
   * which every record is in its files on disk. Recorded in the checkpoint; the replay at
   * startup begins at or before it.
   */
  maxPhysicalOffset?(): number;
}

/**
 * Builds ConsumeQueue units. Consecutive requests for the same topic-queue (a whole send
 * batch is one queue) are staged and written with one write, not one per message.
 */
export class CommitLogDispatcherBuildConsumeQueue implements CommitLogDispatcher {
  private staging: Buffer = Buffer.allocUnsafe(1024 * CQ_STORE_UNIT_SIZE);
  private stagedUnits = 0;
  private cq: ConsumeQueue | undefined;
  private firstQueueOffset = 0;

  constructor(
    private readonly findConsumeQueue: (topic: string, queueId: number) => ConsumeQueue,
    private readonly logger: Logger,
  ) {}

  dispatch(req: DispatchRequest): void {
    const cq = this.cq;
    const continues = cq !== undefined && cq.topic === req.topic && cq.queueId === req.queueId && this.firstQueueOffset + this.stagedUnits === req.queueOffset;
    if (!continues || this.stagedUnits * CQ_STORE_UNIT_SIZE >= this.staging.length) {
      this.flush();
      this.cq = this.findConsumeQueue(req.topic, req.queueId);
      this.firstQueueOffset = req.queueOffset;
    }
    writeCqUnit(this.staging, this.stagedUnits * CQ_STORE_UNIT_SIZE, req.commitLogOffset, req.size, req.tagsCode);
    this.stagedUnits++;
  }

  flush(): void {
    const cq = this.cq;
    if (!cq || this.stagedUnits === 0) return;
    const result = cq.putMessagePositionInfos(this.staging, 0, this.stagedUnits, this.firstQueueOffset);
    if (result.status === 'GAP') {
      // A hole in the index: the units are left out rather than filed under wrong offsets.
      this.logger.error('consumequeue: queue offset gap, units not indexed', {
        topic: cq.topic,
        queueId: cq.queueId,
        expected: result.expected,
        got: this.firstQueueOffset,
        units: this.stagedUnits,
      });
    }
    this.stagedUnits = 0;
    this.cq = undefined;
  }
}

export class Dispatcher {
  private readonly dispatchers: CommitLogDispatcher[];
  /** The one request every dispatch fills (dispatch-request.ts). */
  private readonly req = new RecordDispatchRequest();
  private viewBuf: Buffer | undefined;
  private view: DataView = new DataView(new ArrayBuffer(0));
  private lastTopic = '';
  private lastTopicBytes: Buffer = Buffer.alloc(0);

  /**
   * @param isDeleted records of deleted topics (topic-tombstones.ts) that the replay must not
   *   put back into queues or the index. Only the replay asks: an append is always above
   *   every tombstone, which is the log's end when its delete happened.
   */
  constructor(
    dispatchers: readonly CommitLogDispatcher[],
    private readonly logger: Logger,
    private readonly isDeleted?: (topic: string, commitLogOffset: number) => boolean,
  ) {
    this.dispatchers = [...dispatchers];
  }

  /** Adds an index; it gets every append from now on, and the startup replay. */
  register(dispatcher: CommitLogDispatcher): void {
    this.dispatchers.push(dispatcher);
  }

  /** The lowest maxPhysicalOffset() of the indexes that report one (undefined when none does). */
  minReportedOffset(): number | undefined {
    let min: number | undefined;
    for (const d of this.dispatchers) {
      const o = d.maxPhysicalOffset?.();
      if (o !== undefined && (min === undefined || o < min)) min = o;
    }
    return min;
  }

  private flush(): void {
    for (const d of this.dispatchers) d.flush();
  }

  private dispatchRequest(): void {
    const req = this.req;
    const dispatchers = this.dispatchers;
    for (let d = 0; d < dispatchers.length; d++) dispatchers[d]!.dispatch(req);
  }

  /**
   * Indexes an append: the batch says where each record's properties lie (its shapes were
   * checked when it was decoded), the append where each record landed; the stamped fields
   * are known, so only the properties are read, from the write buffer.
   */
  dispatchAppend(batch: SendBatch, result: AppendResult): void {
    const req = this.req;
    const buf = result.buffer;
    const records = batch.records;
    req.topic = batch.topic;
    req.queueId = batch.queueId;
    req.storeTimestamp = result.storeTimestamp;
    for (let i = 0; i < records.length; i++) {
      const { pos, shape } = records[i]!;
      const propsStart = shape.propertiesStart - pos + result.recordPositions[i]!;
      req.commitLogOffset = result.physicalOffsets[i]!;
      req.queueOffset = result.firstQueueOffset + i;
      req.size = shape.size;
      req.readProperties(buf, propsStart, propsStart + shape.propertiesLength);
      this.dispatchRequest();
    }
    this.flush();
  }

  /**
   * dispatchAppend for a put of several queues' records in one write: `queues` in the order
   * of the batch's records, each with its count and first queue offset.
   */
  dispatchAppendOfQueues(
    batch: SendBatch,
    result: AppendResult,
    queues: readonly { topic: string; queueId: number; count: number; queueOffset: number }[],
  ): void {
    const req = this.req;
    const buf = result.buffer;
    const records = batch.records;
    req.storeTimestamp = result.storeTimestamp;
    let i = 0;
    for (const q of queues) {
      req.topic = q.topic;
      req.queueId = q.queueId;
      for (let j = 0; j < q.count; j++, i++) {
        const { pos, shape } = records[i]!;
        const propsStart = shape.propertiesStart - pos + result.recordPositions[i]!;
        req.commitLogOffset = result.physicalOffsets[i]!;
        req.queueOffset = q.queueOffset + j;
        req.size = shape.size;
        req.readProperties(buf, propsStart, propsStart + shape.propertiesLength);
        this.dispatchRequest();
      }
    }
    this.flush();
  }

  /** One record read from the log (the reput). */
  private dispatchRecord(buf: Buffer, pos: number, shape: RecordShape): void {
    if (buf !== this.viewBuf) {
      this.viewBuf = buf;
      this.view = viewOf(buf);
    }
    const topic = this.topicOf(buf, shape.topicStart, shape.topicLength);
    this.req.readRecord(buf, this.view, pos, shape.size, topic, shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
    if (this.isDeleted?.(topic, this.req.commitLogOffset)) return;
    this.dispatchRequest();
  }

  /** The topic at [start, start + length): the last one's string again when the bytes match (a log holds runs of one topic). */
  private topicOf(buf: Buffer, start: number, length: number): string {
    const last = this.lastTopicBytes;
    if (last.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (buf[start + i] !== last[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastTopic;
    }
    this.lastTopic = buf.toString('latin1', start, start + length);
    this.lastTopicBytes = Buffer.from(buf.subarray(start, start + length));
    return this.lastTopic;
  }

  /**
   * Startup reput: indexes the CommitLog from `fromOffset` to its end, reading from disk in
   * bounded windows. Returns the offset reached.
   */
  reput(commitLog: CommitLog, fromOffset: number): number {
    const replay = this.replayFrom(fromOffset);
    // No CRC here: recovery has just verified the log from the checkpoint on, and before
    // the checkpoint it was on disk when the checkpoint was written.
    const reached = commitLog.scanFrom(fromOffset, replay.visit, { verifyCrc: false });
    replay.done(reached);
    return reached;
  }

  /**
   * CommitLog recovery and the startup reput in one walk over the log's tail (read once):
   * verifies from `checkpointOffset` as CommitLog.recover does, truncates a torn tail, and
   * indexes every valid record from `fromOffset` on. Returns the log's end.
   *
   * The indexes must be open before (their ends found), as for reput(); what the walk
   * dispatches is only valid records, so units and entries past a torn tail can only be
   * ones the indexes held already (ConsumeQueue.truncateDirtyLogicFiles drops those after).
   */
  recoverAndReput(commitLog: CommitLog, checkpointOffset: number | undefined, fromOffset: number): number {
    const replay = this.replayFrom(fromOffset);
    const end = commitLog.recover(checkpointOffset, replay);
    replay.done(end);
    return end;
  }

  /** A replay's visitor (records in log order; a flush every 1,024) and its end. */
  private replayFrom(fromOffset: number): RecoveryReplay & { done(reached: number): void } {
    let records = 0;
    return {
      fromOffset,
      visit: (buf, pos, shape) => {
        this.dispatchRecord(buf, pos, shape);
        if (++records % 1024 === 0) this.flush();
      },
      done: (reached) => {
        this.flush();
        if (records > 0) this.logger.info('reput: indexed records from the commitlog', { fromOffset, toOffset: reached, records });
      },
    };
  }
}
