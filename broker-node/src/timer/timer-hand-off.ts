/**
 * The timer records the put path has just stored, handed to the timer loop so it can enqueue
 * them without reading them back (TimerMessageStore.handOff). Memory only and bounded: the
 * ConsumeQueue of the timer topic stays the truth, so anything not taken here, or lost with
 * the process, is read back from there.
 */
import type { SendBatch } from '@cirrusmq/client/protocol';
import type { PutMessageResult } from '../store/message-store-types';

/** Handed-over records kept for the loop at most: past it (a loop held up), the loop reads them back instead. */
const MAX_HANDED_OFF = 256 * 1024;
/** Handed-over records waiting that wake the loop before its next tick. */
const WAKE_HANDED_OFF = 64 * 1024;

/** One put's timer records, stored back to back. */
export interface HandedOff {
  /** The timer queue's offset of the first record. */
  queueOffset: number;
  commitLogOffset: number;
  /** Per record, back to back from commitLogOffset. */
  sizes: number[];
  deliverMs: readonly number[];
}

export class HandedOffQueue {
  private readonly batches: HandedOff[] = [];
  private records = 0;

  /** Records waiting (held in memory only). */
  get count(): number {
    return this.records;
  }

  /** Enough waiting that the loop should not wait for its next tick. */
  get wantsWake(): boolean {
    return this.records >= WAKE_HANDED_OFF;
  }

  /**
   * Keeps `records`, stored as `result` says and due at `deliverMs`, unless they lie before
   * `enqueueOffset`, would pass the bound, or were not stored back to back (a segment change
   * within the batch).
   */
  offer(result: PutMessageResult, records: SendBatch['records'], deliverMs: readonly number[], enqueueOffset: number): void {
    if (result.commitLogEnd === undefined || result.queueOffset < enqueueOffset) return;
    if (this.records + records.length > MAX_HANDED_OFF) return;
    const sizes = new Array<number>(records.length);
    let bytes = 0;
    for (let i = 0; i < records.length; i++) bytes += sizes[i] = records[i]!.shape.size;
    if (result.commitLogEnd - result.commitLogOffset !== bytes) return;
    this.batches.push({ queueOffset: result.queueOffset, commitLogOffset: result.commitLogOffset, sizes, deliverMs });
    this.records += records.length;
  }

  /**
   * The first batch not wholly before `enqueueOffset`, if any. It is taken off the queue when
   * it starts at or before `enqueueOffset` (the caller enqueues it now); a batch further on is
   * only looked at. Batches wholly before are dropped.
   */
  next(enqueueOffset: number): HandedOff | undefined {
    while (this.batches.length > 0) {
      const h = this.batches[0]!;
      if (h.queueOffset + h.sizes.length > enqueueOffset) {
        if (h.queueOffset <= enqueueOffset) this.shift();
        return h;
      }
      this.shift();
    }
    return undefined;
  }

  /** Takes the first batch if it starts exactly at `queueOffset`. */
  takeAt(queueOffset: number): HandedOff | undefined {
    const h = this.batches[0];
    if (h?.queueOffset !== queueOffset) return undefined;
    this.shift();
    return h;
  }

  clear(): void {
    this.batches.length = 0;
    this.records = 0;
  }

  private shift(): void {
    this.records -= this.batches.shift()!.sizes.length;
  }
}
