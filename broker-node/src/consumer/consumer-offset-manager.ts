/**
 * A group's offsets on the queues here (RocketMQ's ConsumerOffsetManager, over the lease table):
 * committed = the smallest offset not resolved, or the cursor; a pull consumer's commit moves
 * forward only; a reset moves anywhere and ends the leases in flight.
 */
import { CirrusError, type CommitOffsetRequest, type ConsumerProgress, type ConsumerQueueProgress, type ResetOffsetRequest } from '@cirrusmq/client/protocol';
import type { MessageStore } from '../store/message-store-types';
import type { TopicConfigManager } from '../topic-config-manager';
import { offsetFor } from './consume-start-offset';
import type { PopJournal } from './pop-journal-record';
import type { PopLeaseTable } from './pop-lease-table';
import type { PopLongPollingService } from './pop-long-polling-service';
import { commitBelow } from './pop-recovery';
import type { PopReviveService } from './pop-revive-service';
import type { GroupConfigSource } from './pop-service';
import { bumpEpoch, ensureCursor, readQueueIds } from './queue-cursor';

export interface ConsumerOffsetDeps {
  brokerName: string;
  store: Pick<MessageStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>;
  topicConfigManager: Pick<TopicConfigManager, 'getTopicConfig' | 'checkReadable'>;
  groups: GroupConfigSource;
  table: PopLeaseTable;
  polling: PopLongPollingService;
  revive: PopReviveService;
  /** The journal once the state is recovered (PopService.journal). */
  journal: () => PopJournal | undefined;
}

export class ConsumerOffsetManager {
  constructor(private readonly deps: ConsumerOffsetDeps) {}

  async progress(topic: string, groupName: string): Promise<ConsumerProgress> {
    const { store, table, revive } = this.deps;
    const queueIds = await readQueueIds(this.deps.topicConfigManager, topic, undefined);
    const group = await this.deps.groups.getOrCreate(groupName);
    revive.expire();
    const queues: ConsumerQueueProgress[] = [];
    for (const queueId of queueIds) {
      const q = table.getOrCreate(groupName, topic, queueId);
      await ensureCursor(store, q, group, this.deps.journal);
      const minOffset = store.getMinOffsetInQueue(topic, queueId);
      const maxOffset = store.getMaxOffsetInQueue(topic, queueId);
      const committedOffset = q.committedOffset() ?? minOffset;
      queues.push({
        queueId,
        minOffset,
        maxOffset,
        committedOffset,
        cursor: q.cursor ?? committedOffset,
        inFlight: q.inFlight(),
        lag: Math.max(0, maxOffset - committedOffset),
      });
    }
    const c = revive.countsOf(groupName, topic);
    return { topic, group: groupName, brokerName: this.deps.brokerName, queues, retried: c?.retried ?? 0, deadLettered: c?.deadLettered ?? 0 };
  }

  /** A pull consumer's commit: never backwards; leases below the offset are resolved. */
  async commitOffset(req: CommitOffsetRequest): Promise<ConsumerProgress> {
    const { store, table, journal } = this.deps;
    await this.deps.topicConfigManager.checkReadable(req.topic, req.queueId);
    const group = await this.deps.groups.getOrCreate(req.group);
    const maxOffset = store.getMaxOffsetInQueue(req.topic, req.queueId);
    if (req.offset > maxOffset) throw new CirrusError('INVALID_PARAMETER', `offset ${req.offset} is past queue ${req.queueId}'s max offset ${maxOffset}`);
    const q = table.getOrCreate(req.group, req.topic, req.queueId);
    await ensureCursor(store, q, group, journal);
    if (req.offset > (q.committedOffset() ?? 0)) {
      commitBelow(table, q, req.offset);
      journal()?.append({ t: 'COMMIT', g: q.group, topic: q.topic, q: q.queueId, cursor: req.offset });
      await journal()?.sync();
    }
    return this.progress(req.topic, req.group);
  }

  /** Moves the group on every queue of the topic here; leases in flight end (their handles answer RECEIPT_HANDLE_EXPIRED). */
  async resetOffset(req: ResetOffsetRequest): Promise<ConsumerProgress> {
    const { store, table, polling, journal } = this.deps;
    const queueIds = await readQueueIds(this.deps.topicConfigManager, req.topic, undefined);
    await this.deps.groups.getOrCreate(req.group);
    for (const queueId of queueIds) {
      const target = await offsetFor(store, req.topic, queueId, req.to);
      const q = table.getOrCreate(req.group, req.topic, queueId);
      table.clearQueue(q);
      q.cursor = target;
      bumpEpoch(q);
      journal()?.append({ t: 'RESET', g: q.group, topic: q.topic, q: q.queueId, cursor: target });
      polling.notifyReleased(req.topic, req.group, queueId);
    }
    await journal()?.sync();
    return this.progress(req.topic, req.group);
  }

  /** The topic's queues here were deleted: its offsets will start again at 0, so no group keeps a cursor or lease on it. */
  forgetTopic(topic: string): void {
    const { table, journal } = this.deps;
    for (const q of table.removeTopic(topic)) {
      table.clearQueue(q);
      bumpEpoch(q);
    }
    journal()?.append({ t: 'FORGET', topic });
  }
}
