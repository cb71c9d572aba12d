/**
 * The read path of one queue (RocketMQ's DefaultMessageStore.getMessage): ConsumeQueue
 * units first, then the CommitLog by offset, with the two-step tag filter in between.
 *
 *   units [offset, ...)  --tag hash not in the filter-->  skipped, no CommitLog read
 *                        --passes-->  CommitLog read  --stored TAGS differ-->  dropped
 *
 * Records below the local CommitLog (deleted locally once tiered) are read from the tier:
 * the CommitLogReader (commit-log-reader.ts) decides which.
 * Skipped and dropped units still advance nextOffset, so a consumer never reads them again.
 * A filtered read scans at most MAX_FILTER_SCAN_UNITS units: a queue of a million other-tag
 * messages answers in pieces (count 0, nextOffset moved on) instead of one long stall.
 */
import { CirrusError, readInt64, readRecordShape } from '@cirrusmq/client/protocol';
import type { CommitLogReader } from './commit-log-reader';
import { CQ_STORE_UNIT_SIZE, CqUnit, type ConsumeQueue } from './consume-queue';
import type { MessageFilter } from './filter/message-filter';
import { type GetMessageResult, MAX_FILTER_SCAN_UNITS, MAX_READ_BYTES } from './message-store-types';
/** Units fetched per ConsumeQueue read while filtering. */
const FILTER_SCAN_CHUNK = 1024;

const EMPTY = Buffer.alloc(0);

export async function getMessageFromQueue(
  log: CommitLogReader,
  cq: ConsumeQueue,
  offset: number,
  maxMsgs: number,
  filter?: MessageFilter,
): Promise<GetMessageResult> {
  const minOffset = cq.getMinOffsetInQueue();
  const maxOffset = cq.getMaxOffsetInQueue();
  if (offset < minOffset) {
    throw new CirrusError(
      'OFFSET_BELOW_MINIMUM',
      `offset ${offset} of ${cq.topic}/${cq.queueId} is below the queue's minimum offset ${minOffset}: older messages were deleted by retention`,
      { details: { minOffset } },
    );
  }
  if (offset >= maxOffset) return { records: EMPTY, count: 0, nextOffset: maxOffset, minOffset, maxOffset };

  // Collect the units first (offsets, sizes), then size one answer buffer and fill it.
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  let next = offset;
  let scanned = 0;
  const scanLimit = filter ? MAX_FILTER_SCAN_UNITS : Number.POSITIVE_INFINITY;
  outer: while (offsets.length < maxMsgs && next < maxOffset && scanned < scanLimit) {
    const want = filter ? Math.min(FILTER_SCAN_CHUNK, scanLimit - scanned) : maxMsgs - offsets.length;
    const units = cq.getIndexBuffer(next, want);
    if (!units) break;
    for (let p = 0; p < units.length; p += CQ_STORE_UNIT_SIZE) {
      if (offsets.length >= maxMsgs) break outer;
      const size = units.readInt32BE(p + CqUnit.SIZE);
      if (filter && !filter.isMatchedByConsumeQueue(readInt64(units, p + CqUnit.TAGS_CODE))) {
        next++;
        scanned++;
        continue;
      }
      if (offsets.length > 0 && total + size > MAX_READ_BYTES) break outer;
      next++;
      scanned++;
      if (size <= 0) continue;
      offsets.push(readInt64(units, p + CqUnit.OFFSET));
      sizes.push(size);
      total += size;
    }
  }
  if (offsets.length === 0) return { records: EMPTY, count: 0, nextOffset: next, minOffset, maxOffset };

  const records = Buffer.allocUnsafe(total);
  let filled = 0;
  let count = 0;
  // Adjacent records in one segment (a batch) are read with one pread.
  for (let i = 0; i < offsets.length; ) {
    const start = offsets[i]!;
    // A run never crosses a segment's end (local or tiered); with no segment known, the record alone.
    const segment = log.segmentAt(start);
    const runLimit = segment.end ?? start + sizes[i]!;
    let end = start + sizes[i]!;
    let j = i + 1;
    while (j < offsets.length && offsets[j] === end && end + sizes[j]! <= runLimit) end += sizes[j++]!;
    const n = await segment.readInto(start, end - start, records, filled);
    if (n !== end - start) {
      throw new CirrusError('INTERNAL', `consumequeue ${cq.topic}/${cq.queueId} points at ${start}..${end}, not in the commitlog`);
    }
    filled += n;
    count += j - i;
    i = j;
  }
  if (!filter) return { records, count, nextOffset: next, minOffset, maxOffset };
  const kept = confirmByCommitLog(records, filter);
  return { records: kept.records, count: kept.count, nextOffset: next, minOffset, maxOffset };
}

/** Step 2: keeps the records whose stored TAGS match, compacting them in place. */
function confirmByCommitLog(records: Buffer, filter: MessageFilter): { records: Buffer; count: number } {
  let read = 0;
  let write = 0;
  let count = 0;
  while (read < records.length) {
    const shape = readRecordShape(records, read, records.length);
    if (!shape) throw new CirrusError('INTERNAL', `malformed record at byte ${read} of a filtered read`);
    if (filter.isMatchedByCommitLog(records, read, shape)) {
      if (write !== read) records.copyWithin(write, read, read + shape.size);
      write += shape.size;
      count++;
    }
    read += shape.size;
  }
  return { records: write === 0 ? EMPTY : records.subarray(0, write), count };
}
