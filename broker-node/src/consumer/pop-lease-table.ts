/**
 * The in-flight table of POP (RocketMQ RIP-73's idea, without the revive topic): per
 * (group, topic, queue) a cursor (the next offset a receive reads) and the leases of the
 * messages delivered and not yet acked, plus one min-heap of deadlines over all of them.
 *
 * A lease is a small record (offset, attempt, generation, deadline, state): no message copy.
 * An expired lease stays in its queue's map, marked READY, so the message is redelivered in
 * place (same offset, attempt + 1) before new ones, and the committed offset (the smallest
 * offset still in the map, or the cursor) never passes a message that is not resolved.
 */

export type LeaseState = 'LEASED' | 'READY' | 'DEAD_LETTERING';

export interface Lease {
  readonly offset: number;
  readonly queue: QueueLeases;
  attempt: number;
  generation: number;
  deadline: number;
  state: LeaseState;
  /** Its place in the deadline heap while LEASED, -1 otherwise: an ack takes it out at once, so an acked lease dies young. */
  heapIndex: number;
}

export class QueueLeases {
  /** Next offset to read; undefined until the start offset (consumeFrom) is known. */
  cursor: number | undefined;
  /**
   * Offset -> lease. Offsets enter in increasing order (the cursor only moves forward, and a
   * reset clears the map), so the first key is the smallest: committed offset in O(1).
   */
  readonly leases = new Map<number, Lease>();
  /** Expired leases waiting for redelivery, oldest first. */
  readonly ready: number[] = [];
  /** The non-blocking pop lock: a receive skips a queue another receive is reading. */
  locked = false;
  /** Deliveries a message gets before the dead-letter topic (retryMaxTimes + 1), as of the last receive. */
  maxDeliveries = Number.MAX_SAFE_INTEGER;
  orderly = false;

  constructor(
    readonly group: string,
    readonly topic: string,
    readonly queueId: number,
  ) {}

  committedOffset(): number | undefined {
    for (const offset of this.leases.keys()) return offset;
    return this.cursor;
  }

  /** Leases not acked (leased, waiting for redelivery or being dead-lettered). */
  inFlight(): number {
    return this.leases.size;
  }

  /** An orderly queue is busy while any batch is leased. */
  hasActiveLease(): boolean {
    for (const l of this.leases.values()) if (l.state !== 'READY') return true;
    return false;
  }
}

/**
 * The LEASED leases by deadline: a binary heap that knows each lease's place, so an ack or a
 * change of invisibility moves or removes its lease in O(log n). (Entries left behind to be
 * dropped lazily at their deadline lived as long as the invisibility: at tens of thousands of
 * messages a second, millions of objects promoted to the old generation for the GC to mark.)
 */
export class DeadlineHeap {
  private readonly a: Lease[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): Lease | undefined {
    return this.a[0];
  }

  /** Adds the lease, or moves it to its new deadline's place. */
  update(l: Lease): void {
    if (l.heapIndex < 0) {
      l.heapIndex = this.a.length;
      this.a.push(l);
    }
    this.siftDown(this.siftUp(l.heapIndex));
  }

  remove(l: Lease): void {
    const i = l.heapIndex;
    if (i < 0) return;
    l.heapIndex = -1;
    const last = this.a.pop()!;
    if (last === l) return;
    this.a[i] = last;
    last.heapIndex = i;
    this.siftDown(this.siftUp(i));
  }

  pop(): Lease | undefined {
    const top = this.a[0];
    if (top) this.remove(top);
    return top;
  }

  clear(): void {
    for (const l of this.a) l.heapIndex = -1;
    this.a.length = 0;
  }

  private siftUp(i: number): number {
    const a = this.a;
    const e = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.deadline <= e.deadline) break;
      a[i] = a[p]!;
      a[i]!.heapIndex = i;
      i = p;
    }
    a[i] = e;
    e.heapIndex = i;
    return i;
  }

  private siftDown(i: number): void {
    const a = this.a;
    const e = a[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]!.deadline < a[l]!.deadline ? r : l;
      if (a[c]!.deadline >= e.deadline) break;
      a[i] = a[c]!;
      a[i]!.heapIndex = i;
      i = c;
    }
    a[i] = e;
    e.heapIndex = i;
  }
}

export class PopLeaseTable {
  private readonly queues = new Map<string, QueueLeases>();
  /** Unresolved leases over all queues (the memory bound's measure). */
  private leaseCount = 0;
  private readonly heap = new DeadlineHeap();
  private generation = 0;

  static key(group: string, topic: string, queueId: number): string {
    return `${group}\u0000${topic}\u0000${queueId}`;
  }

  get(group: string, topic: string, queueId: number): QueueLeases | undefined {
    return this.queues.get(PopLeaseTable.key(group, topic, queueId));
  }

  getOrCreate(group: string, topic: string, queueId: number): QueueLeases {
    const key = PopLeaseTable.key(group, topic, queueId);
    let q = this.queues.get(key);
    if (!q) {
      q = new QueueLeases(group, topic, queueId);
      this.queues.set(key, q);
    }
    return q;
  }

  /** Drops every group's queues of a topic; returns them (their receives in flight see a new epoch). */
  removeTopic(topic: string): QueueLeases[] {
    const gone: QueueLeases[] = [];
    for (const [key, q] of this.queues) {
      if (q.topic !== topic) continue;
      this.queues.delete(key);
      this.clearQueue(q);
      gone.push(q);
    }
    return gone;
  }

  all(): IterableIterator<QueueLeases> {
    return this.queues.values();
  }

  nextGeneration(): number {
    return ++this.generation;
  }

  currentGeneration(): number {
    return this.generation;
  }

  /** After a replay: generations keep growing past every one handed out before. */
  observeGeneration(g: number): void {
    if (g > this.generation) this.generation = g;
  }

  /** A delivery (first or again): a new generation and deadline. */
  lease(q: QueueLeases, offset: number, attempt: number, deadline: number, generation = this.nextGeneration()): Lease {
    let l = q.leases.get(offset);
    if (l) {
      l.attempt = attempt;
      l.generation = generation;
      l.deadline = deadline;
      l.state = 'LEASED';
    } else {
      l = { offset, queue: q, attempt, generation, deadline, state: 'LEASED', heapIndex: -1 };
      q.leases.set(offset, l);
      this.leaseCount++;
    }
    this.heap.update(l);
    return l;
  }

  /** Change-invisibility: same lease, new generation (the old handle stops working) and deadline. */
  extend(l: Lease, deadline: number, generation = this.nextGeneration()): void {
    l.generation = generation;
    l.deadline = deadline;
    if (l.state === 'LEASED') this.heap.update(l);
  }

  /** Out of its lease, waiting to go again (a release, or a replayed one). */
  makeReady(l: Lease): void {
    this.heap.remove(l);
    l.state = 'READY';
  }

  resolve(q: QueueLeases, offset: number): void {
    const l = q.leases.get(offset);
    if (!l) return;
    this.heap.remove(l);
    q.leases.delete(offset);
    this.leaseCount--;
  }

  get size(): number {
    return this.leaseCount;
  }

  /** Ends every lease of a queue (a reset). */
  clearQueue(q: QueueLeases): void {
    for (const l of q.leases.values()) this.heap.remove(l);
    this.leaseCount -= q.leases.size;
    q.leases.clear();
    q.ready.length = 0;
  }

  /** The earliest deadline of a LEASED lease. */
  nextDeadline(): number | undefined {
    return this.heap.peek()?.deadline;
  }

  /** Moves the leases whose deadline passed to READY; calls `expired` for each. */
  expire(now: number, expired: (q: QueueLeases, l: Lease) => void): void {
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.deadline > now) return;
      this.heap.pop();
      top.state = 'READY';
      expired(top.queue, top);
    }
  }
}
