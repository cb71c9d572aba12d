/**
 * What a consumer does with its leases (RocketMQ's AckMessageProcessor and
 * ChangeInvisibleTimeProcessor): ack ends a lease; change-invisibility moves its deadline under
 * a new generation (its old handle dies), or with RELEASE_INVISIBLE_MS hands the message back
 * at once. Each entry answers on its own: one dead handle fails only its entry.
 */
import {
  type AckRequest,
  type AckResponse,
  type ChangeInvisibilityRequest,
  type ChangeInvisibilityResponse,
  CirrusError,
  type EntryFailure,
  RELEASE_INVISIBLE_MS,
} from '@cirrusmq/client/protocol';
import type { PopJournal } from './pop-journal-record';
import type { Lease, PopLeaseTable, QueueLeases } from './pop-lease-table';
import type { PopLongPollingService } from './pop-long-polling-service';
import type { PopReviveService } from './pop-revive-service';
import type { LeaseRef, ReceiptHandleCodec } from './receipt-handle';
import { insertSorted } from './sorted-offsets';

export interface PopAckDeps {
  table: PopLeaseTable;
  polling: PopLongPollingService;
  revive: PopReviveService;
  codec: ReceiptHandleCodec;
  now: () => number;
  /** The journal once the state is recovered (PopService.journal). */
  journal: () => PopJournal | undefined;
}

export class PopAckService {
  constructor(private readonly deps: PopAckDeps) {}

  /** Answers once the acks are in the journal at the store's durability: under SYNC_FLUSH an acked lease survives a crash. */
  async ack(req: AckRequest): Promise<AckResponse> {
    const { table, polling, revive, codec, journal } = this.deps;
    revive.expire();
    const refs = codec.decodeAll(req.receiptHandles, req.topic, req.group);
    const queues = new QueueMemo(table, req.topic, req.group);
    const now = this.deps.now();
    const response: AckResponse = {
      results: refs.map((ref) => {
        try {
          const { q, lease } = this.liveLease(ref, queues, now);
          table.resolve(q, lease.offset);
          journal()?.append({ t: 'ACK', g: q.group, topic: q.topic, q: q.queueId, offset: lease.offset });
          if (q.orderly && !q.hasActiveLease()) polling.notifyReleased(q.topic, q.group, q.queueId);
          return { status: 'OK' as const };
        } catch (e) {
          return failure(e);
        }
      }),
    };
    await journal()?.sync();
    return response;
  }

  async changeInvisibility(req: ChangeInvisibilityRequest): Promise<ChangeInvisibilityResponse> {
    const { table, revive, codec, journal } = this.deps;
    revive.expire();
    const refs = codec.decodeAll(
      req.entries.map((e) => e.receiptHandle),
      req.topic,
      req.group,
    );
    const queues = new QueueMemo(table, req.topic, req.group);
    const now = this.deps.now();
    const changed: LeaseRef[] = [];
    const outcomes = req.entries.map((entry, i) => {
      try {
        const { q, lease } = this.liveLease(refs[i]!, queues, now);
        if (entry.invisibleMs === RELEASE_INVISIBLE_MS) {
          this.release(q, lease);
        } else {
          const deadline = this.deps.now() + entry.invisibleMs;
          table.extend(lease, deadline);
          journal()?.append({ t: 'CHANGE', g: q.group, topic: q.topic, q: q.queueId, offset: lease.offset, gen: lease.generation, deadline });
        }
        changed.push({ queueId: q.queueId, queueOffset: lease.offset, generation: lease.generation });
        return changed.length - 1;
      } catch (e) {
        return failure(e);
      }
    });
    const handles = codec.encodeAll(req.topic, req.group, changed);
    const results = outcomes.map((o) => (typeof o === 'number' ? { status: 'OK' as const, receiptHandle: handles[o]! } : o));
    revive.armTimer();
    await journal()?.sync();
    return { results };
  }

  /** The lease a handle names, if it is still running; the errors a client sees per entry otherwise. */
  private liveLease(ref: LeaseRef | CirrusError, queues: QueueMemo, now: number): { q: QueueLeases; lease: Lease } {
    if (ref instanceof CirrusError) throw ref;
    const q = queues.get(ref.queueId);
    const lease = q?.leases.get(ref.queueOffset);
    if (!q || !lease || lease.generation !== ref.generation || lease.state !== 'LEASED' || lease.deadline <= now) {
      throw new CirrusError(
        'RECEIPT_HANDLE_EXPIRED',
        `the lease of ${queues.topic}/${ref.queueId}@${ref.queueOffset} for ${queues.group} has ended (acked, redelivered, changed or expired)`,
      );
    }
    return { q, lease };
  }

  /** Ends a lease now without counting its delivery (the consumer never saw the message): first in line again. */
  private release(q: QueueLeases, l: Lease): void {
    const { table, polling, journal } = this.deps;
    l.attempt = Math.max(0, l.attempt - 1);
    l.generation = table.nextGeneration();
    table.makeReady(l);
    insertSorted(q.ready, l.offset);
    journal()?.append({ t: 'RELEASE', g: q.group, topic: q.topic, q: q.queueId, offset: l.offset, attempt: l.attempt, gen: l.generation });
    polling.notifyReleased(q.topic, q.group, q.queueId);
  }
}

function failure(e: unknown): EntryFailure {
  if (e instanceof CirrusError) return { status: 'FAILED', error: { code: e.code, message: e.message } };
  return { status: 'FAILED', error: { code: 'INTERNAL', message: 'internal error' } };
}

/** One request's queues by id: its handles mostly name one queue, looked up once instead of by a new key string per handle. */
class QueueMemo {
  private id = -1;
  private q: QueueLeases | undefined;

  constructor(
    private readonly table: PopLeaseTable,
    readonly topic: string,
    readonly group: string,
  ) {}

  get(queueId: number): QueueLeases | undefined {
    if (queueId !== this.id) {
      this.q = this.table.get(this.group, this.topic, queueId);
      this.id = queueId;
    }
    return this.q;
  }
}
