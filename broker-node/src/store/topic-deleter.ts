/**
 * A topic's deletion on this broker and the incarnations its queues belong to (RocketMQ's
 * deleteTopics; DefaultMessageStore.deleteTopic and ensureTopicIncarnation call it). A delete
 * writes a durable tombstone (topic-tombstones.ts) before anything goes, then detaches the
 * topic's ConsumeQueues into DELETED_QUEUES_DIR and removes them once their files are closed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@cirrusmq/client/protocol';
import type { CommitLog } from './commit-log';
import type { ConsumeQueueTable } from './consume-queue-table';
import type { IncarnationVerdict, TopicTombstones } from './topic-tombstones';

/** Where a deleted topic's ConsumeQueue folder waits for its files to close; emptied at load. */
const DELETED_QUEUES_DIR = 'deleted-queues';

export interface TopicDeleterDeps {
  storeDir: string;
  commitLog: CommitLog;
  consumeQueueTable: ConsumeQueueTable;
  tombstones: TopicTombstones;
  /** Forgets a queue's next offset (the store's topicQueueTable): the topic's next send starts at 0. */
  forgetQueue: (topic: string, queueId: number) => void;
  logger: Logger;
}

export class TopicDeleter {
  constructor(private readonly d: TopicDeleterDeps) {}

  /**
   * A crash between a delete's tombstone and the move of its queue folder leaves queues that
   * hold only records below the tombstone: they go, and the replay starts at the tombstone
   * at the latest, so a queue of the topic created since is rebuilt whole (returned: where).
   */
  dropQueuesOfDeletedTopics(): number | undefined {
    fs.rmSync(path.join(this.d.storeDir, DELETED_QUEUES_DIR), { recursive: true, force: true });
    if (!this.d.tombstones.hasAny()) return undefined;
    let redoFrom: number | undefined;
    for (const topic of this.d.consumeQueueTable.topics()) {
      const below = this.d.tombstones.get(topic)?.deletedBelow;
      if (below === undefined) continue;
      for (const cq of this.d.consumeQueueTable.queuesOf(topic)) {
        const end = cq.getMaxPhysicOffset();
        // Records of a later incarnation start at the tombstone or after, so they end past it.
        if (end === 0 || end > below) continue;
        this.d.logger.warn('deleted topic: dropping a queue its delete left behind', { topic, queueId: cq.queueId, deletedBelow: below });
        this.d.consumeQueueTable.destroy(cq);
        redoFrom = Math.min(redoFrom ?? below, below);
      }
    }
    return redoFrom;
  }

  /**
   * The broker serves `topic` as the NameServer's incarnation `createdAt` (topic-config-manager.ts
   * asks before serving it). A newer one than the local queues belong to means the topic was
   * deleted and created again while this broker missed the delete (it was down): its older
   * queues are dropped first, as a delete would.
   */
  ensureIncarnation(topic: string, createdAt: number): IncarnationVerdict {
    const t = this.d.tombstones.get(topic);
    if (t?.createdAt === undefined) {
      // First use here (or queues from before incarnations were recorded): they are this one's.
      this.d.tombstones.setIncarnation(topic, createdAt);
      return 'current';
    }
    if (createdAt === t.createdAt) return t.deleted ? 'deleted' : 'current';
    if (createdAt < t.createdAt) return 'stale';
    const { deletedBelow, queues, closed } = this.drop(topic, createdAt, false);
    closed.catch((e: unknown) => this.d.logger.error('deleted topic: closing its queues failed', { topic, err: e }));
    this.d.logger.info('topic created again since its queues here were written: older queues dropped', {
      topic,
      createdAt,
      was: t.createdAt,
      deletedBelow,
      queues,
    });
    return 'current';
  }

  /** The synchronous part of a delete: tombstone (fsync'd), then the queues leave; `closed` once their files are closed and removed. */
  drop(topic: string, createdAt: number | undefined, deleted: boolean): { deletedBelow: number; queues: number; closed: Promise<void> } {
    // Appends are synchronous: every record of the topic so far lies below the log's end.
    const deletedBelow = this.d.commitLog.getMaxOffset();
    const local = this.d.consumeQueueTable.queuesOf(topic);
    if (deleted) this.d.tombstones.markDeleted(topic, deletedBelow, createdAt);
    else this.d.tombstones.setIncarnation(topic, createdAt!, local.length > 0 ? deletedBelow : undefined);
    for (const cq of local) this.d.forgetQueue(topic, cq.queueId);
    const { queues, movedTo } = this.d.consumeQueueTable.detachTopic(topic, path.join(this.d.storeDir, DELETED_QUEUES_DIR));
    const closed = (async () => {
      // A flush round may be syncing these files: it finishes before they close.
      for (const cq of queues) await cq.closeDeleted();
      if (movedTo) fs.rmSync(movedTo, { recursive: true, force: true });
    })();
    return { deletedBelow, queues: queues.length, closed };
  }
}
