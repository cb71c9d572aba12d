/**
 * Where a group starts on a queue it has never consumed (consumeFrom), and the targets of a
 * reset. By time: RocketMQ's getOffsetInQueueByTime, a binary search over the queue's units
 * reading each probed record's store timestamp (store timestamps grow with queue offsets:
 * one writer stamps them in append order).
 */
import { CirrusError, type ConsumeFrom, decodeRecords } from '@cirrusmq/client/protocol';
import type { MessageStore } from '../store/message-store-types';

type OffsetStore = Pick<MessageStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>;

/** The first offset whose record was stored at or after `timestamp` (the max offset when none is). */
async function getOffsetInQueueByTime(store: OffsetStore, topic: string, queueId: number, timestamp: number): Promise<number> {
  let lo = store.getMinOffsetInQueue(topic, queueId);
  let hi = store.getMaxOffsetInQueue(topic, queueId);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const stored = await storeTimestampAt(store, topic, queueId, mid);
    // Gone under retention while searching: everything below is older still.
    if (stored === undefined || stored < timestamp) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where `from` points in a queue: 'earliest' = min offset, 'latest' = max offset, an epoch ms by store time. */
export function offsetFor(store: OffsetStore, topic: string, queueId: number, from: ConsumeFrom): Promise<number> {
  if (from === 'earliest') return Promise.resolve(store.getMinOffsetInQueue(topic, queueId));
  if (from === 'latest') return Promise.resolve(store.getMaxOffsetInQueue(topic, queueId));
  return getOffsetInQueueByTime(store, topic, queueId, from);
}

/**
 * A group's first offset on a queue: 'latest' means every message stored after the group was
 * created (even if its first receive comes later), so it is a search by createdAt, not the
 * queue's end at first receive.
 */
export function startOffsetFor(store: OffsetStore, topic: string, queueId: number, consumeFrom: ConsumeFrom, groupCreatedAt: number): Promise<number> {
  if (consumeFrom === 'latest') return getOffsetInQueueByTime(store, topic, queueId, groupCreatedAt);
  return offsetFor(store, topic, queueId, consumeFrom);
}

async function storeTimestampAt(store: OffsetStore, topic: string, queueId: number, offset: number): Promise<number | undefined> {
  try {
    const got = await store.getMessage(topic, queueId, offset, 1);
    if (got.count === 0) return undefined;
    return decodeRecords(got.records)[0]!.storeTimestamp;
  } catch (e) {
    if (e instanceof CirrusError && e.code === 'OFFSET_BELOW_MINIMUM') return undefined;
    throw e;
  }
}
