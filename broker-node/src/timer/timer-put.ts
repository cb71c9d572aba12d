/** The put path's hook for scheduled messages (RocketMQ's HookUtils.transformTimerMessage at putMessage) and the retention hold. */
import type { SendBatch } from '@cirrusmq/client/protocol';
import type { CleanCommitLogService } from '../store/clean-commit-log-service';
import type { MessageStore, PutMessageResult, PutOptions } from '../store/message-store-types';
import type { TimerMessageStore } from './timer-message-store';
import { divertTimers } from './timer-record';

/**
 * Stores a send batch whose records may carry a schedule: the scheduled ones under the timer
 * topic, the rest in their queue. A bad schedule throws INVALID_DELAY before anything is stored.
 */
export async function putMessagesWithTimers(
  store: Pick<MessageStore, 'putMessages'>,
  timer: TimerMessageStore,
  batch: SendBatch,
  options?: PutOptions,
  now = Date.now(),
): Promise<PutMessageResult> {
  const diverted = divertTimers(batch, now, timer.maxDelayMs);
  if (!diverted) return store.putMessages(batch, options);
  // Both appends happen in this turn, in this order, so the plain records keep contiguous offsets in their queue.
  const [plain, timers] = await Promise.all([
    diverted.normal ? store.putMessages(diverted.normal, options) : undefined,
    store.putMessages(diverted.timers!, options),
  ]);
  timer.noteAppended(timers.commitLogOffset);
  const first = plain ?? timers;
  // A scheduled message's offset in its queue is known only when it fires: with no plain record, the answer names the
  // timer queue's offset, as RocketMQ's does.
  return { ...first, count: batch.records.length, status: first.status !== 'PUT_OK' ? first.status : timers.status };
}

/** Retention deletes no segment holding a pending timer's record (RocketMQ #9006), and nothing until the timers are recovered. Install before the store opens. */
export function holdRetentionForTimers(clean: Pick<CleanCommitLogService, 'canDelete'>, timer: Pick<TimerMessageStore, 'retentionHold'>): void {
  const canDelete = clean.canDelete;
  clean.canDelete = (f) => canDelete(f) && f.fileFromOffset + f.fileSize <= timer.retentionHold();
}
