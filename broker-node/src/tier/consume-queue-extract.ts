/**
 * The ConsumeQueue units that point into one CommitLog segment, uploaded beside it so a
 * broker restored on an empty disk can rebuild its ConsumeQueues for the tiered offsets
 * without reading the tiered log (20 bytes per message instead of the message).
 *
 *   MAGIC (4) | RUNCOUNT (4) | runs... | CRC (4, zlib.crc32 of everything before)
 *   run: TOPICLENGTH (1) | TOPIC | QUEUEID (4) | FIRSTQUEUEOFFSET (8) | UNITCOUNT (4) | units (20 each)
 *
 * A run is a topic-queue's contiguous units within the segment (one per queue, as a
 * queue's offsets grow with the log).
 */
import { crc32 } from 'node:zlib';
import { CirrusError, Field, readInt64, type RecordShape, writeInt64 } from '@cirrusmq/client/protocol';
import { CQ_STORE_UNIT_SIZE, writeCqUnit } from '../store/consume-queue';
import { RecordDispatchRequest } from '../store/dispatch-request';

const EXTRACT_MAGIC = 0x43515831; // "CQX1"

export interface ConsumeQueueRun {
  topic: string;
  queueId: number;
  firstQueueOffset: number;
  count: number;
  /** count units of CQ_STORE_UNIT_SIZE bytes. */
  units: Buffer;
}

export class ConsumeQueueExtractBuilder {
  private readonly runs: ConsumeQueueRun[] = [];
  private readonly open = new Map<string, ConsumeQueueRun>();
  /** Reads the tag hash from the property bytes, as the dispatcher does (no string per record). */
  private readonly request = new RecordDispatchRequest();
  /** The run of the record before: a batch's records are one queue's, so most records find it here. */
  private last: ConsumeQueueRun | undefined;

  /** Adds the unit of one stored record (a SegmentRecordVisitor). */
  add(buf: Buffer, pos: number, shape: RecordShape, physicalOffset: number): void {
    const queueId = buf.readInt32BE(pos + Field.QUEUEID);
    const queueOffset = readInt64(buf, pos + Field.QUEUEOFFSET);
    let run = this.last;
    if (!run || run.queueId !== queueId || run.firstQueueOffset + run.count !== queueOffset || !sameTopic(run.topic, buf, shape)) {
      run = this.runFor(buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength), queueId, queueOffset);
      this.last = run;
    }
    if ((run.count + 1) * CQ_STORE_UNIT_SIZE > run.units.length) {
      const grown = Buffer.allocUnsafe(run.units.length * 2);
      run.units.copy(grown, 0, 0, run.count * CQ_STORE_UNIT_SIZE);
      run.units = grown;
    }
    this.request.readProperties(buf, shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
    writeCqUnit(run.units, run.count * CQ_STORE_UNIT_SIZE, physicalOffset, shape.size, this.request.tagsCode);
    run.count++;
  }

  private runFor(topic: string, queueId: number, queueOffset: number): ConsumeQueueRun {
    const key = `${topic}\u0000${queueId}`;
    let run = this.open.get(key);
    if (!run || run.firstQueueOffset + run.count !== queueOffset) {
      run = { topic, queueId, firstQueueOffset: queueOffset, count: 0, units: Buffer.allocUnsafe(64 * CQ_STORE_UNIT_SIZE) };
      this.open.set(key, run);
      this.runs.push(run);
    }
    return run;
  }

  encode(): Buffer {
    let size = 8 + 4;
    for (const r of this.runs) size += 1 + r.topic.length + 4 + 8 + 4 + r.count * CQ_STORE_UNIT_SIZE;
    const out = Buffer.allocUnsafe(size);
    out.writeUInt32BE(EXTRACT_MAGIC, 0);
    out.writeUInt32BE(this.runs.length, 4);
    let p = 8;
    for (const r of this.runs) {
      out.writeUInt8(r.topic.length, p);
      out.write(r.topic, p + 1, 'latin1');
      p += 1 + r.topic.length;
      out.writeInt32BE(r.queueId, p);
      writeInt64(out, r.firstQueueOffset, p + 4);
      out.writeUInt32BE(r.count, p + 12);
      p += 16;
      p += r.units.copy(out, p, 0, r.count * CQ_STORE_UNIT_SIZE);
    }
    out.writeUInt32BE(crc32(out.subarray(0, p)), p);
    return out;
  }
}

function sameTopic(topic: string, buf: Buffer, shape: RecordShape): boolean {
  if (topic.length !== shape.topicLength) return false;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) !== buf[shape.topicStart + i]) return false;
  return true;
}

export function decodeConsumeQueueExtract(buf: Buffer): ConsumeQueueRun[] {
  const bad = (why: string) => new CirrusError('TIER_OBJECT_NOT_FOUND', `consumequeue extract is damaged: ${why}`);
  if (buf.length < 12 || buf.readUInt32BE(0) !== EXTRACT_MAGIC) throw bad('bad magic');
  const end = buf.length - 4;
  if (buf.readUInt32BE(end) !== crc32(buf.subarray(0, end))) throw bad('CRC mismatch');
  const count = buf.readUInt32BE(4);
  const runs: ConsumeQueueRun[] = [];
  let p = 8;
  for (let i = 0; i < count; i++) {
    if (p + 1 > end) throw bad('run past the end');
    const topicLength = buf.readUInt8(p);
    if (p + 1 + topicLength + 16 > end) throw bad('run past the end');
    const topic = buf.toString('latin1', p + 1, p + 1 + topicLength);
    p += 1 + topicLength;
    const queueId = buf.readInt32BE(p);
    const firstQueueOffset = readInt64(buf, p + 4);
    const units = buf.readUInt32BE(p + 12);
    p += 16;
    if (p + units * CQ_STORE_UNIT_SIZE > end) throw bad('units past the end');
    runs.push({ topic, queueId, firstQueueOffset, count: units, units: buf.subarray(p, p + units * CQ_STORE_UNIT_SIZE) });
    p += units * CQ_STORE_UNIT_SIZE;
  }
  if (p !== end) throw bad('bytes after the last run');
  return runs;
}
