/**
 * Reading timer records back from the CommitLog: a due tick's records in runs (one read per
 * run of adjacent records), one record by its place, and the records of a lookup answer.
 */
import { Field, readRecordShape } from '@cirrusmq/client/protocol';
import { readTimerRecord, TIMER_TOPIC, type TimerRecord } from './timer-record';

/** Numbers per unit of a tick as the timer loop reads them: deliverMs, offsetPy, sizePy. */
export const UNIT_FIELDS = 3;
/** The longest run of adjacent records read with one read. */
const READ_RUN_BYTES = 1 << 20;

export interface CommitLogReader {
  /** The bytes at [offset, offset + size), or undefined when not stored (or across a segment's end). */
  readCommitLog(offset: number, size: number): Promise<Buffer | undefined>;
}

/**
 * The records of `units` (UNIT_FIELDS numbers each), in their order; undefined for one that is
 * gone. Each run of records adjacent in the CommitLog (a send batch's timers) is read with one
 * read: a burst of 100,000 is a few hundred reads, not 100,000.
 */
export async function readTimerRecords(store: CommitLogReader, units: Float64Array): Promise<(TimerRecord | undefined)[]> {
  const count = units.length / UNIT_FIELDS;
  const out: (TimerRecord | undefined)[] = new Array(count);
  const offsetOf = (i: number) => units[i * UNIT_FIELDS + 1]!;
  const sizeOf = (i: number) => units[i * UNIT_FIELDS + 2]!;
  // In CommitLog order: a tick's units mostly are already (appended as their records were).
  const order = new Int32Array(count);
  let sorted = true;
  for (let i = 0; i < count; i++) {
    order[i] = i;
    if (i > 0 && offsetOf(i) < offsetOf(i - 1)) sorted = false;
  }
  if (!sorted) order.sort((a, b) => offsetOf(a) - offsetOf(b));
  const reads: Promise<void>[] = [];
  for (let i = 0; i < count; ) {
    const first = offsetOf(order[i]!);
    let end = first + sizeOf(order[i]!);
    let j = i + 1;
    while (j < count && offsetOf(order[j]!) === end && end - first < READ_RUN_BYTES) end += sizeOf(order[j++]!);
    reads.push(readRun(store, units, order.subarray(i, j), out));
    i = j;
  }
  await Promise.all(reads);
  return out;
}

async function readRun(store: CommitLogReader, units: Float64Array, run: Int32Array, out: (TimerRecord | undefined)[]): Promise<void> {
  const start = units[run[0]! * UNIT_FIELDS + 1]!;
  const last = run[run.length - 1]! * UNIT_FIELDS;
  // A run across a segment's end reads as not stored: then record by record.
  const buf = run.length > 1 ? await store.readCommitLog(start, units[last + 1]! + units[last + 2]! - start) : undefined;
  for (const i of run) {
    const offsetPy = units[i * UNIT_FIELDS + 1]!;
    out[i] = buf ? readTimerRecord(buf, offsetPy - start) : await readTimerRecordAt(store, offsetPy, units[i * UNIT_FIELDS + 2]!);
  }
}

/** The timer record at `offset`, or undefined when it is gone or is not one. */
export async function readTimerRecordAt(store: CommitLogReader, offset: number, size: number): Promise<TimerRecord | undefined> {
  const buf = await store.readCommitLog(offset, size);
  return buf ? readTimerRecord(buf) : undefined;
}

/** The records of a lookup answer: topic, offset and, for timer records, the schedule. */
export function* eachRecord(buf: Buffer): Generator<{ topic: string; offset: number; timer: TimerRecord | undefined }> {
  let pos = 0;
  while (pos < buf.length) {
    const shape = readRecordShape(buf, pos, buf.length);
    if (!shape) return;
    const topic = buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength);
    const rec = buf.subarray(pos, pos + shape.size);
    yield { topic, offset: Number(buf.readBigInt64BE(pos + Field.PHYSICALOFFSET)), timer: topic === TIMER_TOPIC ? readTimerRecord(rec) : undefined };
    pos += shape.size;
  }
}
