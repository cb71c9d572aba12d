/** The put path's hook for scheduled messages (RocketMQ's HookUtils.transformTimerMessage at putMessage) and the retention hold. */
import type { SendBatch } from '@cirrusmq/client/protocol';
import type { CleanCommitLogService } from '../store/clean-commit-log-service';
import type { MessageStore, PutMessageResult, PutOptions } from '../store/message-store-types';
import type { TimerMessageStore } from './timer-message-store';
import { checkTimerForm } from './timer-form-check';
import { divertTimers } from './timer-record';

type PutStore = Pick<MessageStore, 'putMessages'>;

/**
 * Stores a send batch whose records may carry a schedule: the scheduled ones under the timer
 * topic, the rest in their queue. A bad schedule throws INVALID_DELAY before anything is stored.
 * A batch in the timer form (the SDK's: codec/timer-batch.ts) is checked and stored as it came.
 */
export async function putMessagesWithTimers(
  store: PutStore,
  timer: TimerMessageStore,
  batch: SendBatch,
  options?: PutOptions,
  now = Date.now(),
): Promise<PutMessageResult> {
  if (batch.timerForm) {
    const checked = checkTimerForm(batch, now, timer.maxDelayMs);
    if (checked.timers) {
      const result = await putTimers(store, timer, checked.timers, checked.deliverMs, options);
      return { ...result, count: batch.records.length };
    }
    // Due already by this broker's clock: sorted as the plain form it stands for.
    batch = checked.plain!;
  }
  const diverted = divertTimers(batch, now, timer.maxDelayMs);
  if (!diverted) return store.putMessages(batch, options);
  // Both appends happen in this turn, in this order, so the plain records keep contiguous offsets in their queue.
  const [plain, timers] = await Promise.all([
    diverted.normal ? store.putMessages(diverted.normal, options) : undefined,
    putTimers(store, timer, diverted.timers!, diverted.deliverMs, options),
  ]);
  const first = plain ?? timers;
  // A scheduled message's offset in its queue is known only when it fires: with no plain record, the answer names the
  // timer queue's offset, as RocketMQ's does.
  return { ...first, count: batch.records.length, status: first.status !== 'PUT_OK' ? first.status : timers.status };
}

/** Appends timer records and hands their places to the timer store, so its loop need not read them back. */
async function putTimers(
  store: PutStore,
  timer: TimerMessageStore,
  timers: SendBatch,
  deliverMs: readonly number[],
  options?: PutOptions,
): Promise<PutMessageResult> {
  const result = await store.putMessages(timers, options);
  timer.handOff(result, timers.records, deliverMs);
  timer.noteAppended(result.commitLogOffset, false);
  return result;
}

/** Retention deletes no segment holding a pending timer's record (RocketMQ #9006), and nothing until the timers are recovered. Install before the store opens. */
export function holdRetentionForTimers(clean: Pick<CleanCommitLogService, 'canDelete'>, timer: Pick<TimerMessageStore, 'retentionHold'>): void {
  const canDelete = clean.canDelete;
  clean.canDelete = (f) => canDelete(f) && f.fileFromOffset + f.fileSize <= timer.retentionHold();
}
