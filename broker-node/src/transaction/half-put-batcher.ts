/**
 * The half messages of one turn of the event loop in one store put: every half message goes to
 * the same queue (rmq_sys_trans_half_topic, 0), so the concurrent one-message sends of a
 * transactional producer's senders (32 requests read in one turn) make one CommitLog write and
 * one dispatch pass instead of one each. Each send is answered from its own slice of the put,
 * and only once the put is acknowledged (after the write; after the flush or the S3 chunk under
 * SYNC_FLUSH or durability s3): the same guarantee as a put of its own.
 *
 * Sends asking for different durabilities are not merged. A merged put the store refuses is
 * tried again one send at a time, so a bad send (a record too large for a segment) fails alone.
 */
import { CirrusError, Field, type SendBatch, readRecordShape } from '@cirrusmq/client/protocol';
import type { PutMessageResult, PutOptions } from '../store/message-store-types';
import { HALF_TOPIC } from './half-message';

/** A put's records and where each one landed in the CommitLog. */
export interface HalfPutResult {
  put: PutMessageResult;
  /** The CommitLog offset of each record of the submitted batch, in order. */
  offsets: number[];
}

interface Waiting {
  batch: SendBatch;
  options: PutOptions | undefined;
  resolve: (r: HalfPutResult) => void;
  reject: (e: unknown) => void;
}

/** A merged put holds at most this many records and bytes (a send batch's own limits). */
const MAX_RECORDS = 1000;
const MAX_BYTES = 4 * 1024 * 1024;
const BATCH_HEADER = 16;
const HALF_TOPIC_BYTES = Buffer.from(HALF_TOPIC, 'latin1');

export class HalfPutBatcher {
  private waiting: Waiting[] | undefined;

  constructor(
    private readonly putMessages: (batch: SendBatch, options: PutOptions | undefined) => Promise<PutMessageResult>,
    /** The stored records of a queue range, to find where records landed when a segment change split a put. */
    private readonly readQueue: (queueOffset: number, count: number) => Promise<Buffer>,
  ) {}

  /** `batch`: half records under HALF_TOPIC queue 0 (divertHalfMessages' half). */
  submit(batch: SendBatch, options: PutOptions | undefined): Promise<HalfPutResult> {
    return new Promise((resolve, reject) => {
      if (!this.waiting) {
        this.waiting = [];
        // After this turn's microtasks: the requests read together have all reached here.
        process.nextTick(() => void this.flush());
      }
      this.waiting.push({ batch, options, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const all = this.waiting!;
    this.waiting = undefined;
    if (all.length === 1) return this.putAlone(all[0]!);
    const groups: Waiting[][] = [];
    let group: Waiting[] = [];
    let records = 0;
    let bytes = 0;
    // In arrival order; a new group at a durability change or at the limits.
    for (const w of all) {
      const n = w.batch.records.length;
      const b = w.batch.body.length;
      const prev = group[0];
      if (prev && (prev.options?.durability !== w.options?.durability || records + n > MAX_RECORDS || bytes + b > MAX_BYTES)) {
        groups.push(group);
        group = [];
        records = 0;
        bytes = 0;
      }
      group.push(w);
      records += n;
      bytes += b;
    }
    groups.push(group);
    await Promise.all(groups.map((g) => (g.length === 1 ? this.putAlone(g[0]!) : this.putMerged(g))));
  }

  private async putAlone(w: Waiting): Promise<void> {
    try {
      const put = await this.putMessages(w.batch, w.options);
      w.resolve({ put, offsets: await this.offsetsOf(put, sizesOf(w.batch)) });
    } catch (e) {
      w.reject(e);
    }
  }

  private async putMerged(group: Waiting[]): Promise<void> {
    const merged = mergeBatches(group.map((w) => w.batch));
    let put: PutMessageResult;
    try {
      put = await this.putMessages(merged, group[0]!.options);
    } catch {
      // Nothing of a refused put is stored: each send again on its own, so only a bad one fails.
      for (const w of group) await this.putAlone(w);
      return;
    }
    try {
      const offsets = await this.offsetsOf(put, sizesOf(merged));
      let at = 0;
      for (const w of group) {
        const n = w.batch.records.length;
        w.resolve({
          put: { status: put.status, queueOffset: put.queueOffset + at, count: n, commitLogOffset: offsets[at]!, commitLogEnd: put.commitLogEnd },
          offsets: offsets.slice(at, at + n),
        });
        at += n;
      }
    } catch (e) {
      for (const w of group) w.reject(e);
    }
  }

  /**
   * Where each record landed: back to back from the put's first one, unless a segment change
   * split the put (then a filler lies between two of them, and the stored records say where).
   */
  private async offsetsOf(put: PutMessageResult, sizes: number[]): Promise<number[]> {
    const offsets = new Array<number>(sizes.length);
    let at = put.commitLogOffset;
    for (let i = 0; i < sizes.length; i++) {
      offsets[i] = at;
      at += sizes[i]!;
    }
    if (put.commitLogEnd === undefined || put.commitLogEnd === at) return offsets;
    // A read may answer fewer records than asked: read on from where it stopped.
    for (let i = 0; i < sizes.length; ) {
      const stored = await this.readQueue(put.queueOffset + i, sizes.length - i);
      const from = i;
      let pos = 0;
      while (i < sizes.length) {
        const shape = readRecordShape(stored, pos, stored.length);
        if (!shape) break;
        offsets[i++] = Number(stored.readBigInt64BE(pos + Field.PHYSICALOFFSET));
        pos += shape.size;
      }
      if (i === from) throw new CirrusError('INTERNAL', `half messages stored at queue offset ${put.queueOffset + i} cannot be read back`);
    }
    return offsets;
  }
}

function sizesOf(batch: SendBatch): number[] {
  return batch.records.map((r) => r.shape.size);
}

/** One send batch under HALF_TOPIC queue 0 of the records of several: their bytes copied back to back after one header. */
export function mergeBatches(batches: readonly SendBatch[]): SendBatch {
  let bytes = BATCH_HEADER + HALF_TOPIC_BYTES.length;
  let count = 0;
  for (const b of batches) for (const r of b.records) bytes += r.shape.size;
  const body = Buffer.allocUnsafe(bytes);
  // The header's fields (send-batch.ts): magic, version, topic length, queue id, record count; copied from the first.
  batches[0]!.body.copy(body, 0, 0, BATCH_HEADER);
  body.writeUInt16BE(HALF_TOPIC_BYTES.length, 6);
  body.writeInt32BE(0, 8);
  HALF_TOPIC_BYTES.copy(body, BATCH_HEADER);
  const records: SendBatch['records'] = [];
  let at = BATCH_HEADER + HALF_TOPIC_BYTES.length;
  for (const b of batches) {
    for (const { pos, shape } of b.records) {
      b.body.copy(body, at, pos, pos + shape.size);
      const shift = at - pos;
      records.push({
        pos: at,
        shape: { ...shape, topicStart: shape.topicStart + shift, propertiesStart: shape.propertiesStart + shift },
      });
      at += shape.size;
      count++;
    }
  }
  body.writeUInt32BE(count, 12);
  return { topic: HALF_TOPIC, queueId: 0, records, body };
}
