/**
 * A receive that spans the topic's brokers (DESIGN.md "The consume API"): brokers are asked in
 * turn without waiting until `max` is filled; when none had a message and the caller waits,
 * every broker is long-polled at once and the first non-empty answer is taken. A broker that
 * answers after that leased messages nobody will see: they go to another receive of the same
 * group parked in this process with the same filter and invisibility (its lease is as good),
 * or are released at once (invisibleMs RELEASE_INVISIBLE_MS), never stranded until their
 * lease ends. The other polls are told to end their wait once one answered (END_WAIT): left
 * parked, they are the broker's oldest waiters, which it wakes first, so a late answer would
 * be the rule at low rates.
 */
import { CirrusError, type PopRequest } from '@cirrusmq/client/protocol';
import type { BrokerTarget } from './broker-route';

/** `M`: a leased message as the route keeps it (a decoded message, or its record in the broker's answer). */
export interface FanoutOps<M> {
  /** `endWait` aborted: the long poll is no longer needed, its broker answers now (END_WAIT over remoting). */
  pop(target: BrokerTarget, request: PopRequest, endWait?: AbortSignal): Promise<M[]>;
  /** Ends these leases now, so the messages are deliverable again; must not throw (it logs). */
  release(messages: readonly M[]): Promise<void>;
  /** Receives of this process parked in their long poll, to hand late answers to. */
  parked: ParkedReceives<M>;
}

/** A parked receive takes messages leased for another and answers how many it took (up to its max). */
type Taker<M> = (messages: readonly M[]) => number;

/**
 * The long-polling receives of this process, by what makes a lease taken for one as good as
 * its own: topic, group, filter and invisibility. Oldest first, like the broker's waiters.
 */
export class ParkedReceives<M> {
  private readonly byKey = new Map<string, Set<Taker<M>>>();

  park(request: PopRequest, take: Taker<M>): () => void {
    const key = keyOf(request);
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(take);
    return () => {
      set.delete(take);
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
    };
  }

  /** Hands `messages` to parked receives of `request`'s kind; answers those none took. */
  offer(request: PopRequest, messages: readonly M[]): M[] {
    let rest = messages;
    const set = this.byKey.get(keyOf(request));
    if (!set) return [...rest];
    for (const take of [...set]) {
      if (rest.length === 0) break;
      rest = rest.slice(take(rest));
    }
    return [...rest];
  }

  get size(): number {
    let n = 0;
    for (const set of this.byKey.values()) n += set.size;
    return n;
  }
}

const keyOf = (r: PopRequest) => `${r.topic}\u0000${r.group}\u0000${r.filter ?? '*'}\u0000${r.invisibleMs}`;

/**
 * Up to `request.max` messages from `targets`, starting at `targets[start % n]`. Throws the
 * first broker error only when every broker failed.
 */
export async function receiveAcross<M>(targets: readonly BrokerTarget[], start: number, request: PopRequest, ops: FanoutOps<M>): Promise<M[]> {
  if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${request.topic}`);
  const order = targets.map((_, i) => targets[(start + i) % targets.length]!);
  const got: M[] = [];
  const errors: unknown[] = [];
  for (const target of order) {
    try {
      got.push(...(await ops.pop(target, { ...request, max: request.max - got.length, waitMs: 0 })));
    } catch (e) {
      errors.push(e);
    }
    if (got.length >= request.max) return got;
  }
  if (got.length > 0) return got;
  if (errors.length === order.length) throw errors[0];
  if (request.waitMs <= 0) return [];
  return longPoll(order, request, ops);
}

/**
 * Every broker polled at once; the first non-empty answer wins (or messages handed over by
 * another receive), and later ones go to another parked receive or are released.
 */
function longPoll<M>(order: readonly BrokerTarget[], request: PopRequest, ops: FanoutOps<M>): Promise<M[]> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let settled = 0;
    const errors: unknown[] = [];
    const answeredElsewhere = new AbortController();
    const answer = (messages: M[]) => {
      answered = true;
      answeredElsewhere.abort();
      unpark();
      resolve(messages);
    };
    const unpark = ops.parked.park(request, (offered) => {
      if (answered) return 0;
      const taken = offered.slice(0, request.max);
      answer(taken);
      return taken.length;
    });
    const done = () => {
      if (++settled < order.length || answered) return;
      answered = true;
      unpark();
      if (errors.length === order.length) reject(errors[0]);
      else resolve([]);
    };
    for (const target of order) {
      ops.pop(target, request, answeredElsewhere.signal).then(
        (messages) => {
          if (messages.length > 0) {
            if (!answered) answer(messages);
            else {
              const rest = ops.parked.offer(request, messages);
              if (rest.length > 0) void ops.release(rest);
            }
          }
          done();
        },
        (e: unknown) => {
          errors.push(e);
          done();
        },
      );
    }
  });
}
