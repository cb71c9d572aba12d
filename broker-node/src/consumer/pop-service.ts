/**
 * The broker's consume core over the lease table (RocketMQ's PopMessageProcessor; its
 * AckMessageProcessor, ChangeInvisibleTimeProcessor, PopReviveService and ConsumerOffsetManager
 * are the files named below):
 *
 *   pop:     queues of the topic in turn, each under a non-blocking lock (a busy queue is
 *            skipped); expired leases first (redelivered in place, attempt + 1), then new
 *            messages from the cursor through the tag filter; each delivery is a lease until
 *            now + invisibleMs. Nothing found: long polling until waitMs.
 *   ack:     pop-ack-service.ts: ends a lease; change-invisibility moves its deadline under a
 *            new generation.
 *   expiry:  pop-revive-service.ts: an expired lease becomes READY (and wakes one receive of
 *            its group), or, after retryMaxTimes + 1 deliveries, goes to %DLQ%{group}.
 *   offsets: consumer-offset-manager.ts: committed = smallest offset not resolved, or the
 *            cursor; commit moves forward only; reset moves anywhere and ends the leases.
 */
import {
  CirrusError,
  type AckRequest,
  type AckResponse,
  type ChangeInvisibilityRequest,
  type ChangeInvisibilityResponse,
  type CommitOffsetRequest,
  type ConsumerProgress,
  type Logger,
  type PopRequest,
  type PoppedMeta,
  type ResetOffsetRequest,
  readQueueOffset,
  readRecordShape,
  type SubscriptionGroupConfig,
} from '@cirrusmq/client/protocol';
import { type MessageFilter, messageFilterFor } from '../store/filter/message-filter';
import type { MessageStore } from '../store/message-store-types';
import type { TopicConfigManager } from '../topic-config-manager';
import { ConsumerOffsetManager } from './consumer-offset-manager';
import type { DeadLetterService } from './dead-letter';
import { PopAckService } from './pop-ack-service';
import type { PopJournal, PopJournalRecord } from './pop-journal-record';
import { type Lease, PopLeaseTable, type QueueLeases } from './pop-lease-table';
import { PopLongPollingService, SAFETY_RECHECK_MS } from './pop-long-polling-service';
import { applyJournalRecord, loadSnapshotInto, snapshotOf } from './pop-recovery';
import { groupTopicKey, PopReviveService } from './pop-revive-service';
import type { PopSnapshot } from './pop-snapshot';
import { ensureCursor, epochOf, readQueueIds } from './queue-cursor';
import type { LeaseRef, ReceiptHandleCodec } from './receipt-handle';
import { removeValue } from './sorted-offsets';

/** The group's settings: the NameServer's (SubscriptionGroupManager.getOrCreate), created on first use. */
export interface GroupConfigSource {
  getOrCreate(group: string): Promise<SubscriptionGroupConfig>;
}

export interface PopServiceDeps {
  brokerName: string;
  store: Pick<MessageStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue' | 'isOpen'>;
  topicConfigManager: Pick<TopicConfigManager, 'getTopicConfig' | 'checkReadable'>;
  groups: GroupConfigSource;
  codec: ReceiptHandleCodec;
  deadLetter: DeadLetterService;
  logger: Logger;
  now?: () => number;
  /** MAX_LEASES_IN_FLIGHT unless a test sets a small one. */
  maxLeases?: number;
}

export interface PopResult {
  messages: PoppedMeta[];
  /** The records, in the order of `messages` (a buffer may hold several). */
  records: Buffer[];
  /** The leases, in the order of `messages`: their handles are signed together at the end of the receive. */
  leases: LeaseRef[];
}

/**
 * Leases in flight on this broker at most (~140 bytes each, measured in pop-lease-table.test.ts: ~280 MB at the bound).
 * Past it a receive still gets redeliveries but no new message: the broker stays up and the
 * consumers' acks bring it back under.
 */
const MAX_LEASES_IN_FLIGHT = 2_000_000;

export class PopService {
  readonly table = new PopLeaseTable();
  readonly polling = new PopLongPollingService();
  private readonly now: () => number;
  private readonly maxLeases: number;
  private readonly rr = new Map<string, number>();
  private readonly revive: PopReviveService;
  private readonly acks: PopAckService;
  private readonly offsets: ConsumerOffsetManager;
  private stopped = false;

  /** Set once the state is recovered: changes before that (the replay itself) are not journaled again. */
  journal: PopJournal | undefined;

  constructor(private readonly deps: PopServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.maxLeases = deps.maxLeases ?? MAX_LEASES_IN_FLIGHT;
    this.revive = new PopReviveService({
      table: this.table,
      polling: this.polling,
      deadLetter: deps.deadLetter,
      logger: deps.logger,
      now: this.now,
      journal: () => this.journal,
    });
    this.acks = new PopAckService({
      table: this.table,
      polling: this.polling,
      revive: this.revive,
      codec: deps.codec,
      now: this.now,
      journal: () => this.journal,
    });
    this.offsets = new ConsumerOffsetManager({
      brokerName: deps.brokerName,
      store: deps.store,
      topicConfigManager: deps.topicConfigManager,
      groups: deps.groups,
      table: this.table,
      polling: this.polling,
      revive: this.revive,
      journal: () => this.journal,
    });
  }

  /** The store's arrival hook (setMessageArrivingListener). */
  readonly onMessageArriving = (topic: string, queueId: number): void => {
    this.polling.notifyMessageArriving(topic, queueId);
  };

  shutdown(): void {
    this.stopped = true;
    this.revive.shutdown();
    this.polling.wakeAll();
  }

  /**
   * `signal`: the client left (its connection closed, or it cancelled) or wants the answer now
   * (END_WAIT); a long poll then ends with what it has rather than wait or lease to no one.
   */
  async pop(req: PopRequest, signal?: AbortSignal): Promise<PopResult> {
    const queueIds = await readQueueIds(this.deps.topicConfigManager, req.topic, req.queueId);
    const group = await this.deps.groups.getOrCreate(req.group);
    const filter = messageFilterFor(req.filter);
    const until = this.now() + req.waitMs;
    for (;;) {
      this.expire();
      const version = this.polling.version(req.topic);
      const out = await this.popOnce(req, group, queueIds, filter);
      // The leases are in the journal before the consumer holds their handles: a restart keeps them (and under SYNC_FLUSH they are on disk).
      if (out.messages.length > 0) await this.journal?.sync();
      if (out.messages.length > 0 || this.stopped) return out;
      const left = until - this.now();
      if (left <= 0) return out;
      if (this.polling.version(req.topic) !== version) continue;
      const woken = await this.polling.park(req.topic, req.group, req.queueId ?? -1, Math.min(left, SAFETY_RECHECK_MS), signal);
      if (signal?.aborted) {
        // Woken for a message just as its wait ended: the wake goes to the next waiter, or that message would sit until a recheck.
        if (woken) this.polling.notifyReleased(req.topic, req.group, req.queueId ?? -1);
        return out;
      }
    }
  }

  /** Ack and change-invisibility: pop-ack-service.ts. */
  ack(req: AckRequest): Promise<AckResponse> {
    return this.acks.ack(req);
  }

  changeInvisibility(req: ChangeInvisibilityRequest): Promise<ChangeInvisibilityResponse> {
    return this.acks.changeInvisibility(req);
  }

  /** Offsets: consumer-offset-manager.ts. */
  progress(topic: string, groupName: string): Promise<ConsumerProgress> {
    return this.offsets.progress(topic, groupName);
  }

  commitOffset(req: CommitOffsetRequest): Promise<ConsumerProgress> {
    return this.offsets.commitOffset(req);
  }

  resetOffset(req: ResetOffsetRequest): Promise<ConsumerProgress> {
    return this.offsets.resetOffset(req);
  }

  forgetTopic(topic: string): void {
    this.offsets.forgetTopic(topic);
  }

  private async popOnce(req: PopRequest, group: SubscriptionGroupConfig, queueIds: number[], filter: MessageFilter | undefined): Promise<PopResult> {
    const out: PopResult = { messages: [], records: [], leases: [] };
    const rrKey = groupTopicKey(req.group, req.topic);
    const start = this.rr.get(rrKey) ?? 0;
    this.rr.set(rrKey, (start + 1) % queueIds.length);
    for (let i = 0; i < queueIds.length && out.messages.length < req.max; i++) {
      const q = this.table.getOrCreate(req.group, req.topic, queueIds[(start + i) % queueIds.length]!);
      if (q.locked) continue;
      q.locked = true;
      try {
        q.maxDeliveries = group.retryMaxTimes + 1;
        q.orderly = group.orderly;
        await this.popFromQueue(q, group, req, filter, out);
      } finally {
        q.locked = false;
      }
    }
    if (out.messages.length > 0) {
      const handles = this.deps.codec.encodeAll(req.topic, req.group, out.leases);
      for (let i = 0; i < handles.length; i++) out.messages[i]!.receiptHandle = handles[i]!;
      this.revive.armTimer();
    }
    return out;
  }

  private async popFromQueue(
    q: QueueLeases,
    group: SubscriptionGroupConfig,
    req: PopRequest,
    filter: MessageFilter | undefined,
    out: PopResult,
  ): Promise<void> {
    await ensureCursor(this.deps.store, q, group, () => this.journal);
    if (q.orderly && q.hasActiveLease()) return;
    const redelivered = await this.redeliver(q, req, out);
    // Orderly: the expired batch goes again alone, in order, before anything after it.
    if (q.orderly && (redelivered > 0 || q.leases.size > 0)) return;
    const want = Math.min(req.max - out.messages.length, this.maxLeases - this.table.size);
    if (want <= 0) return;
    const epoch = epochOf(q);
    const from = q.cursor!;
    const got = await this.read(q, from, want, filter);
    if (epochOf(q) !== epoch || q.cursor !== from) return;
    const buf = got.records;
    let pos = 0;
    const deadline = this.now() + req.invisibleMs;
    while (pos < buf.length) {
      const shape = readRecordShape(buf, pos, buf.length);
      if (!shape) throw new CirrusError('INTERNAL', `unreadable record in ${q.topic}/${q.queueId} at ${from}`);
      const offset = readQueueOffset(buf, pos);
      const lease = this.table.lease(q, offset, 1, deadline);
      this.journal?.append({ t: 'POP', g: q.group, topic: q.topic, q: q.queueId, offset, attempt: 1, gen: lease.generation, deadline, cursor: got.nextOffset });
      this.deliver(q, lease, undefined, out);
      pos += shape.size;
    }
    // Every record read is delivered: the answer takes the read buffer whole, not a slice per record.
    if (buf.length > 0) out.records.push(buf);
    if (got.nextOffset < from) {
      // The queue ends below the cursor: its tail was lost (ASYNC_FLUSH power loss, a restore short of the end). Leases there named messages
      // that are gone; the offsets will hold other messages, which the cursor delivers as new.
      this.deps.logger.warn('queue ends below the consumer cursor, moved back', {
        group: q.group,
        topic: q.topic,
        queueId: q.queueId,
        cursor: from,
        maxOffset: got.nextOffset,
      });
      for (const offset of [...q.leases.keys()]) {
        if (offset < got.nextOffset) continue;
        this.table.resolve(q, offset);
        removeValue(q.ready, offset);
        this.journal?.append({ t: 'ACK', g: q.group, topic: q.topic, q: q.queueId, offset });
      }
    }
    if (got.nextOffset !== from && got.count === 0) this.journal?.append({ t: 'CURSOR', g: q.group, topic: q.topic, q: q.queueId, cursor: got.nextOffset });
    q.cursor = got.nextOffset;
  }

  /** Expired leases of the queue again, oldest first, attempt + 1. Returns how many. */
  private async redeliver(q: QueueLeases, req: PopRequest, out: PopResult): Promise<number> {
    let n = 0;
    while (q.ready.length > 0 && out.messages.length < req.max) {
      const offset = q.ready[0]!;
      const lease = q.leases.get(offset);
      if (lease?.state !== 'READY') {
        q.ready.shift();
        continue;
      }
      if (lease.attempt >= q.maxDeliveries) {
        q.ready.shift();
        this.revive.startDeadLetter(q, lease);
        continue;
      }
      const epoch = epochOf(q);
      const got = await this.read(q, offset, 1, undefined);
      if (epochOf(q) !== epoch || q.ready[0] !== offset || lease.state !== 'READY') continue;
      q.ready.shift();
      if (got.count === 0 || readQueueOffset(got.records, 0) !== offset) {
        // Deleted by retention while leased: nothing left to deliver.
        this.table.resolve(q, offset);
        this.journal?.append({ t: 'ACK', g: q.group, topic: q.topic, q: q.queueId, offset });
        continue;
      }
      const deadline = this.now() + req.invisibleMs;
      this.table.lease(q, offset, lease.attempt + 1, deadline);
      this.journal?.append({
        t: 'POP',
        g: q.group,
        topic: q.topic,
        q: q.queueId,
        offset,
        attempt: lease.attempt,
        gen: lease.generation,
        deadline,
        cursor: q.cursor!,
      });
      this.deliver(q, lease, got.records, out);
      n++;
    }
    return n;
  }

  /** The handle is signed with the rest of the receive's (popOnce); `record` undefined: the caller adds the records of a run at once. */
  private deliver(q: QueueLeases, lease: Lease, record: Buffer | undefined, out: PopResult): void {
    out.messages.push({ receiptHandle: '', deliveryAttempt: lease.attempt, queueId: q.queueId, queueOffset: lease.offset });
    if (record) out.records.push(record);
    out.leases.push({ queueId: q.queueId, queueOffset: lease.offset, generation: lease.generation });
  }

  private async read(q: QueueLeases, offset: number, max: number, filter: MessageFilter | undefined) {
    try {
      return await this.deps.store.getMessage(q.topic, q.queueId, offset, max, filter);
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'OFFSET_BELOW_MINIMUM') {
        // Retention deleted what the group had not read yet: it goes on from what is kept.
        const minOffset = this.deps.store.getMinOffsetInQueue(q.topic, q.queueId);
        this.deps.logger.warn('consumer offset below the queue minimum, moved up', { group: q.group, topic: q.topic, queueId: q.queueId, offset, minOffset });
        return this.deps.store.getMessage(q.topic, q.queueId, minOffset, max, filter);
      }
      throw e;
    }
  }

  /** Runs the expiry of leases whose deadline passed (pop-revive-service.ts). */
  expire(): void {
    this.revive.expire();
  }

  /** Replays one journal record (recovery). */
  applyJournal(r: PopJournalRecord): void {
    applyJournalRecord(this.table, r);
  }

  /** Every queue's cursor and leases, for a snapshot covering the journal below `journalOffset`. */
  toSnapshot(journalOffset: number): PopSnapshot {
    return snapshotOf(this.table, journalOffset);
  }

  loadSnapshot(s: PopSnapshot): void {
    loadSnapshotInto(this.table, s);
  }

  /** After recovery: leases whose deadline passed while the broker was down expire now. */
  start(): void {
    this.expire();
  }
}
