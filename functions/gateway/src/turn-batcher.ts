/**
 * The per-entry broker calls (ack, change-invisibility) that requests of one event-loop turn
 * make to one broker for one (topic, group), sent as one call: a gateway in front of many
 * consumers gets their acks in bursts, and each broker exchange costs both processes ~40 µs of
 * Node (a frame, its handler, its answer) whatever its size. The turn ends at setImmediate:
 * every request whose bytes arrived in the same poll phase has queued its entries by then,
 * and none waits for a timer. Each caller gets the results of its own entries, in their
 * order; a failed or malformed broker answer fails the callers of that call only.
 */
import { CirrusError } from '@cirrusmq/client/protocol';

/** One broker call for `entries` (already of one key); answers one result per entry, in order. */
export type BatchCall<A, E, R> = (args: A, entries: E[]) => Promise<R[]>;

interface Waiter<R> {
  start: number;
  count: number;
  resolve(results: R[]): void;
  reject(e: unknown): void;
}

interface Batch<A, E, R> {
  args: A;
  entries: E[];
  waiters: Waiter<R>[];
}

export class TurnBatcher<A, E, R> {
  private pending = new Map<string, Batch<A, E, R>>();
  /** Batches filled to maxEntries before the turn ended, sent with the rest. */
  private full: Batch<A, E, R>[] = [];
  private scheduled = false;
  /** Broker calls made, and the requests (submits) they served: their ratio is the coalescing. */
  calls = 0;
  submits = 0;

  /** `maxEntries`: the broker's limit for one call (a submit never exceeds it: the API's own limit). */
  constructor(
    private readonly call: BatchCall<A, E, R>,
    private readonly maxEntries: number,
  ) {}

  /** The results for `entries`, from a call shared with the other submits of `key` in this turn. */
  submit(key: string, args: A, entries: readonly E[]): Promise<R[]> {
    this.submits++;
    return new Promise<R[]>((resolve, reject) => {
      let batch = this.pending.get(key);
      if (batch && batch.entries.length + entries.length > this.maxEntries) {
        this.full.push(batch);
        batch = undefined;
      }
      if (!batch) this.pending.set(key, (batch = { args, entries: [], waiters: [] }));
      batch.waiters.push({ start: batch.entries.length, count: entries.length, resolve, reject });
      for (const e of entries) batch.entries.push(e);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batches = [...this.full, ...this.pending.values()];
    this.full = [];
    this.pending = new Map();
    for (const batch of batches) void this.send(batch);
  };

  private async send(batch: Batch<A, E, R>): Promise<void> {
    this.calls++;
    let results: R[];
    try {
      results = await this.call(batch.args, batch.entries);
      if (results.length !== batch.entries.length) {
        throw new CirrusError('INTERNAL', `broker answered ${results.length} results for ${batch.entries.length} entries`);
      }
    } catch (e) {
      for (const w of batch.waiters) w.reject(e);
      return;
    }
    for (const w of batch.waiters) w.resolve(results.slice(w.start, w.start + w.count));
  }
}
