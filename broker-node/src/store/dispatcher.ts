/**
 * RocketMQ's ReputMessageService and CommitLogDispatcher: the append writes only the
 * CommitLog; this turns the records into DispatchRequests for the indexes (the ConsumeQueue
 * now, the key index later). It runs
 *   - right after each append, over the bytes just written (still in the write buffer),
 *     so a read right after a send sees the message;
 *   - at startup, from the reput offset to the CommitLog's end, reading the log from disk,
 *     so every index can be rebuilt from the log.
 */
import { Field, type RecordShape } from '../../../client/src/codec/record';
import { readInt64 } from '../../../client/src/codec/int64';
import { propertyLookup } from './dispatch-properties';
import { tagsHashCode } from '../../../client/src/codec/tag-hash';
import { readRecordShape } from '../../../client/src/codec/record';
import { MessageConst } from '../../../client/src/message';
import type { Logger } from '../../../client/src/logger';
import type { AppendResult, CommitLog } from './commit-log';
import { CQ_STORE_UNIT_SIZE, writeCqUnit, type ConsumeQueue } from './consume-queue';

export interface DispatchRequest {
  topic: string;
  queueId: number;
  commitLogOffset: number;
  size: number;
  tagsCode: number;
  queueOffset: number;
  storeTimestamp: number;
  /** The KEYS property as stored (space-separated), for the key index. */
  keys: string | undefined;
  uniqKey: string | undefined;
}

/**
 * One index built from the CommitLog. `flush` ends a run of dispatches (an append, a reput step).
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

const tagsOf = propertyLookup(MessageConst.TAGS);
const keysOf = propertyLookup(MessageConst.KEYS);
const uniqKeyOf = propertyLookup(MessageConst.UNIQ_KEY);

/** Reads the DispatchRequest out of a stamped record (the three properties without decoding them all). */
export function toDispatchRequest(buf: Buffer, pos: number, shape: RecordShape): DispatchRequest {
  const props = buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
  return {
    topic: buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength),
    queueId: buf.readInt32BE(pos + Field.QUEUEID),
    commitLogOffset: readInt64(buf, pos + Field.PHYSICALOFFSET),
    size: shape.size,
    tagsCode: tagsHashCode(tagsOf(props)),
    queueOffset: readInt64(buf, pos + Field.QUEUEOFFSET),
    storeTimestamp: readInt64(buf, pos + Field.STORETIMESTAMP),
    keys: keysOf(props),
    uniqKey: uniqKeyOf(props),
  };
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

  constructor(
    dispatchers: readonly CommitLogDispatcher[],
    private readonly logger: Logger,
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

  private dispatchRecord(buf: Buffer, pos: number, shape: RecordShape): void {
    const req = toDispatchRequest(buf, pos, shape);
    for (const d of this.dispatchers) d.dispatch(req);
  }

  private flush(): void {
    for (const d of this.dispatchers) d.flush();
  }

  /** Indexes an append from the write buffer it was written from. */
  dispatchAppend(result: AppendResult): void {
    const buf = result.buffer;
    for (const part of result.parts) {
      let pos = part.bufStart;
      while (pos < part.recordsEnd) {
        const shape = readRecordShape(buf, pos, part.recordsEnd)!;
        this.dispatchRecord(buf, pos, shape);
        pos += shape.size;
      }
    }
    this.flush();
  }

  /**
   * Startup reput: indexes the CommitLog from `fromOffset` to its end, reading from disk in
   * bounded windows. Returns the offset reached.
   */
  reput(commitLog: CommitLog, fromOffset: number): number {
    let records = 0;
    // No CRC here: recovery has just verified the log from the checkpoint on, and before
    // the checkpoint it was on disk when the checkpoint was written.
    const reached = commitLog.scanFrom(
      fromOffset,
      (buf, pos, shape) => {
        this.dispatchRecord(buf, pos, shape);
        if (++records % 1024 === 0) this.flush();
      },
      { verifyCrc: false },
    );
    this.flush();
    if (records > 0) this.logger.info('reput: indexed records from the commitlog', { fromOffset, toOffset: reached, records });
    return reached;
  }
}
