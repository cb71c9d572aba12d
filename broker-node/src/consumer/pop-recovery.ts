/**
 * The lease table's recovery (pop-state-keeper.ts drives it): a snapshot loaded, then the
 * journal replayed from the offset it names. Each record sets state, so a replay of one already
 * applied is harmless.
 */
import type { PopJournalRecord } from './pop-journal-record';
import type { PopLeaseTable, QueueLeases } from './pop-lease-table';
import type { PopSnapshot } from './pop-snapshot';
import { dropBelow, insertSorted, removeValue } from './sorted-offsets';

export function applyJournalRecord(table: PopLeaseTable, r: PopJournalRecord): void {
  if (r.t === 'FORGET') {
    table.removeTopic(r.topic);
    return;
  }
  const q = table.getOrCreate(r.g, r.topic, r.q);
  switch (r.t) {
    case 'POP':
      table.observeGeneration(r.gen);
      table.lease(q, r.offset, r.attempt, r.deadline, r.gen);
      removeValue(q.ready, r.offset);
      q.cursor = r.cursor;
      break;
    case 'CURSOR':
      q.cursor = r.cursor;
      break;
    case 'ACK':
    case 'DLQ':
      table.resolve(q, r.offset);
      removeValue(q.ready, r.offset);
      break;
    case 'CHANGE': {
      table.observeGeneration(r.gen);
      const lease = q.leases.get(r.offset);
      if (lease) {
        lease.state = 'LEASED';
        removeValue(q.ready, r.offset);
        table.extend(lease, r.deadline, r.gen);
      }
      break;
    }
    case 'RELEASE': {
      table.observeGeneration(r.gen);
      const lease = q.leases.get(r.offset);
      if (lease) {
        lease.attempt = r.attempt;
        lease.generation = r.gen;
        lease.state = 'READY';
        insertSorted(q.ready, r.offset);
      }
      break;
    }
    case 'COMMIT':
      commitBelow(table, q, r.cursor);
      break;
    case 'RESET':
      table.clearQueue(q);
      q.cursor = r.cursor;
      break;
  }
}

/** A commit (live and replayed): every lease below `offset` resolved, the cursor never backwards. */
export function commitBelow(table: PopLeaseTable, q: QueueLeases, offset: number): void {
  for (const leased of [...q.leases.keys()]) if (leased < offset) table.resolve(q, leased);
  dropBelow(q.ready, offset);
  q.cursor = Math.max(q.cursor ?? 0, offset);
}

/** Every queue's cursor and leases, for a snapshot covering the journal below `journalOffset`. */
export function snapshotOf(table: PopLeaseTable, journalOffset: number): PopSnapshot {
  const queues: PopSnapshot['queues'] = [];
  for (const q of table.all()) {
    const leases: PopSnapshot['queues'][number]['leases'] = [];
    for (const l of q.leases.values()) leases.push([l.offset, l.attempt, l.generation, l.deadline, l.state]);
    if (q.cursor !== undefined || leases.length > 0) queues.push({ g: q.group, topic: q.topic, q: q.queueId, cursor: q.cursor, leases });
  }
  return { version: 1, journalOffset, generation: table.currentGeneration(), queues };
}

export function loadSnapshotInto(table: PopLeaseTable, s: PopSnapshot): void {
  table.observeGeneration(s.generation);
  for (const sq of s.queues) {
    const q = table.getOrCreate(sq.g, sq.topic, sq.q);
    q.cursor = sq.cursor;
    for (const [offset, attempt, generation, deadline, state] of sq.leases) {
      // Waiting for redelivery or a dead letter: goes again through expiry, at once.
      table.lease(q, offset, attempt, state === 'LEASED' ? deadline : 0, generation);
    }
  }
}
