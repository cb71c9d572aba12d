/**
 * A group's position on a queue, shared by the pop path and the offsets: the queues a request
 * reads, the cursor a queue first seen starts from (the group's consumeFrom), and the epoch a
 * reset or a deleted topic bumps, so a receive that read across it drops what it read.
 */
import type { SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import type { MessageStore } from '../store/message-store-types';
import type { TopicConfigManager } from '../topic-config-manager';
import { startOffsetFor } from './consume-start-offset';
import type { PopJournal } from './pop-journal-record';
import type { QueueLeases } from './pop-lease-table';

const epochs = new WeakMap<QueueLeases, number>();

export function epochOf(q: QueueLeases): number {
  return epochs.get(q) ?? 0;
}

export function bumpEpoch(q: QueueLeases): void {
  epochs.set(q, epochOf(q) + 1);
}

/** One queue (checked readable), or every readable queue of the topic. */
export async function readQueueIds(
  topicConfigManager: Pick<TopicConfigManager, 'getTopicConfig' | 'checkReadable'>,
  topic: string,
  queueId: number | undefined,
): Promise<number[]> {
  if (queueId !== undefined) {
    await topicConfigManager.checkReadable(topic, queueId);
    return [queueId];
  }
  const config = await topicConfigManager.getTopicConfig(topic);
  return Array.from({ length: config.readQueueNums }, (_, i) => i);
}

/** Sets the cursor of a queue the group has not read yet (journaled once recovered). */
export async function ensureCursor(
  store: Pick<MessageStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>,
  q: QueueLeases,
  group: SubscriptionGroupConfig,
  /** Read after the start offset is found: the journal may come meanwhile (recovery). */
  journal: () => PopJournal | undefined,
): Promise<void> {
  if (q.cursor !== undefined) return;
  const start = await startOffsetFor(store, q.topic, q.queueId, group.consumeFrom, group.createdAt);
  if (q.cursor !== undefined) return;
  q.cursor = start;
  journal()?.append({ t: 'CURSOR', g: q.group, topic: q.topic, q: q.queueId, cursor: start });
}
