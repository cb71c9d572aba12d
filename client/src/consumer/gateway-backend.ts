/**
 * The gateway path: the consume calls of the gateway's HTTP API (seconds, JSON bodies).
 *
 * A consumer that loops fast over full batches gets its next batch asked one receive ahead:
 * a receive answers with the batch asked at the one before and sends the next request at
 * once, carrying the acks the loop just queued. Through the gateway a receive's round trip is
 * two hops long; without this each consumer's loop waits it out every batch, while the direct
 * path's kept polls (sticky-long-poll.ts) already have the next batch on its way.
 */
import { type AckResponse, ConsumeLimits, type SubscriptionGroupConfig } from '../api/consume-types.js';
import type { GatewayClient } from '../api/gateway-client.js';
import { CirrusError, toCirrusError } from '../errors.js';
import type { AckOutcome, ConsumeBackend, ReceiveParams } from './consume-backend.js';
import { entryError, settleAcks, toSeconds } from './entry-error.js';
import type { MessageView } from './message-view.js';

/** One ack call's handles of one topic, waiting to be sent: alone, or carried by a receive of its topic and group. */
interface PendingAck {
  topic: string;
  group: string;
  handles: string[];
  settle: (results: AckResponse['results'] | Error) => void;
}

export class GatewayConsumeBackend implements ConsumeBackend {
  /** Acks of this synchronous run of code (sent in a microtask unless a receive takes them first). */
  private pending: PendingAck[] = [];
  /** Per (topic, group, invisibility, filter): the batch asked ahead and how the loop goes. */
  private readonly aheads = new Map<string, AheadState>();
  private closed = false;

  constructor(
    private readonly gateway: GatewayClient,
    /** A receive keeps the next batch asked ahead only when the application came back within this after the last answer. */
    private readonly aheadGapMs = 1000,
  ) {}

  async receive(p: ReceiveParams): Promise<MessageView[]> {
    const key = aheadKey(p);
    let state = this.aheads.get(key);
    if (!state) {
      // One entry per invisibility too: a caller that varies it would otherwise grow the map without end.
      if (this.aheads.size >= MAX_AHEAD_KEYS) for (const [k, a] of this.aheads) if (!a.held) this.aheads.delete(k);
      this.aheads.set(key, (state = { group: p.group, held: undefined, answeredAt: Number.NEGATIVE_INFINITY, full: false }));
    }
    const fast = performance.now() - state.answeredAt <= this.aheadGapMs;
    const held = state.held;
    // Taken now, before any await: the acks this loop just queued leave with the next request.
    const carried = this.takeAcks(p.topic, p.group);
    if (!held) return this.answered(p, state, fast, await this.receiveNow(p, carried));
    state.held = undefined;
    // Still full and fast: the next batch is asked now, carrying the acks.
    const chained = fast && state.full;
    if (chained) state.held = this.receiveAhead(p, carried);
    let got = await held;
    if (got.length === 0 && chained && state.held) {
      // Both were in flight, and the gateway may have answered the later one first: it can hold what was left.
      const next = state.held;
      state.held = undefined;
      got = await next;
    }
    if (got.length === 0) return this.answered(p, state, fast, await this.receiveNow(p, chained ? [] : carried));
    if (!chained && carried.length > 0) {
      // The held batch answers, and the acks still need a request: a receive ahead while the loop is fast, else their own.
      if (fast) state.held = this.receiveAhead(p, carried);
      else this.sendAcks(carried);
    }
    // Asked for more than this receive takes (a PushConsumer's cache room): the rest stays first in line.
    if (got.length > p.max) state.held = prepend(got.splice(p.max), state.held);
    return this.answered(p, state, fast, got);
  }

  /** Notes how the loop goes; after a full batch in a fast loop, the next one is asked now. */
  private answered(p: ReceiveParams, state: AheadState, fast: boolean, got: MessageView[]): MessageView[] {
    state.answeredAt = performance.now();
    state.full = got.length >= p.max;
    if (state.full && fast && !state.held && !this.closed) state.held = this.receiveAhead(p, []);
    return got;
  }

  /** A receive sent ahead: no wait, and a failure is the next receive's to meet (asking again), so an empty answer here. */
  private receiveAhead(p: ReceiveParams, carried: PendingAck[]): Promise<MessageView[]> {
    return this.receiveNow({ ...p, waitMs: 0 }, carried).catch(() => []);
  }

  /** A receive of its own, carrying `carried` (the acks taken for it). */
  private async receiveNow(p: ReceiveParams, carried: PendingAck[]): Promise<MessageView[]> {
    const request = {
      max: p.max,
      invisibleSeconds: toSeconds(p.invisibleMs),
      // Rounded down: a receive must not wait longer than asked.
      waitSeconds: Math.floor(p.waitMs / 1000),
      filter: p.filter,
    };
    // As POP_PARTS (api/pop-parts.ts): the brokers' records, decoded as the direct path decodes them.
    if (carried.length === 0) return this.gateway.receiveMessages(p.topic, p.group, request);
    // The acks' answers come with the receive's, so it does not long-poll: their callers (a
    // PushConsumer's cache room) would wait out the poll. An empty answer is polled again, acks done.
    let answer: Awaited<ReturnType<GatewayClient['receiveWithAcks']>>;
    try {
      // Built whole, not spread from `request`, and one ack's handles not copied: per batch, a
      // spread and flatMap cost the consumer more than the request's JSON.
      const ack = carried.length === 1 ? carried[0]!.handles : carried.flatMap((a) => a.handles);
      answer = await this.gateway.receiveWithAcks(p.topic, p.group, {
        max: request.max,
        invisibleSeconds: request.invisibleSeconds,
        waitSeconds: 0,
        filter: request.filter,
        ack,
      });
    } catch (e) {
      const err = toCirrusError(e);
      // Refused as a whole (4xx): the gateway checks a request before it acks, so the acks go on their own.
      if (err.status >= 400 && err.status < 500) this.sendAcks(carried);
      else for (const a of carried) a.settle(err);
      throw e;
    }
    let from = 0;
    for (const a of carried) {
      const all = answer.ackResults;
      const results = all === undefined ? [] : carried.length === 1 ? all : all.slice(from, from + a.handles.length);
      from += a.handles.length;
      a.settle(results);
    }
    if (answer.messages.length > 0 || request.waitSeconds === 0) return answer.messages;
    return this.gateway.receiveMessages(p.topic, p.group, request);
  }

  /**
   * One request per topic, unless a receive of the same topic and group starts before the
   * microtask that sends it (a consumer that acks a batch and asks for the next in one go):
   * then the receive carries the handles (the receive route's `ack`), one request for both.
   */
  async ack(group: string, messages: readonly MessageView[]): Promise<AckOutcome[]> {
    const outcomes: AckOutcome[] = new Array(messages.length).fill(null);
    const byTopic = groupIndexes(messages, (m) => m.topic);
    await Promise.all(
      [...byTopic].map(async ([topic, indexes]) => {
        const handles = indexes.map((i) => messages[i]!.receiptHandle);
        const answer = await new Promise<AckResponse['results'] | Error>((settle) => this.queueAck({ topic, group, handles, settle }));
        if (answer instanceof Error) {
          const err = toCirrusError(answer);
          for (const i of indexes) outcomes[i] = err;
        } else settleAcks(outcomes, indexes, { results: answer }, 'gateway');
      }),
    );
    return outcomes;
  }

  private queueAck(a: PendingAck): void {
    this.pending.push(a);
    if (this.pending.length === 1) queueMicrotask(() => this.sendPendingAcks());
  }

  /** The pending acks of (topic, group), as many as one request takes; the rest stay pending. */
  private takeAcks(topic: string, group: string): PendingAck[] {
    // The usual receive: nothing pending, nothing allocated.
    if (this.pending.length === 0) return [];
    const taken: PendingAck[] = [];
    let n = 0;
    this.pending = this.pending.filter((a) => {
      // A handle the receive route would refuse stays out: it must fail its ack, not the receive.
      if (a.topic !== topic || a.group !== group || n + a.handles.length > ConsumeLimits.MAX_ACK_ENTRIES || !a.handles.every(isHandleText)) return true;
      n += a.handles.length;
      taken.push(a);
      return false;
    });
    return taken;
  }

  private sendPendingAcks(): void {
    const sending = this.pending;
    this.pending = [];
    this.sendAcks(sending);
  }

  private sendAcks(acks: readonly PendingAck[]): void {
    for (const a of acks) {
      this.gateway.ack(a.topic, a.group, a.handles).then(
        (res) => a.settle(res.results),
        (e: unknown) => a.settle(toCirrusError(e)),
      );
    }
  }

  async changeInvisibility(group: string, message: MessageView, invisibleMs: number): Promise<string> {
    const res = await this.gateway.changeInvisibility(message.topic, group, [
      { receiptHandle: message.receiptHandle, invisibleSeconds: toSeconds(invisibleMs) },
    ]);
    const r = res.results[0];
    if (!r) throw new CirrusError('INTERNAL', 'the gateway answered no change-invisibility result');
    if (r.status !== 'OK') throw entryError(r);
    return r.receiptHandle;
  }

  async release(group: string, messages: readonly MessageView[]): Promise<void> {
    const byTopic = groupIndexes(messages, (m) => m.topic);
    await Promise.all(
      [...byTopic].map(([topic, indexes]) =>
        this.gateway
          .changeInvisibility(
            topic,
            group,
            // 0: the gateway's release, deliverable at once and not counted as an attempt.
            indexes.map((i) => ({ receiptHandle: messages[i]!.receiptHandle, invisibleSeconds: 0 })),
          )
          .catch(() => {
            // Nothing to do: the leases end at their invisibility.
          }),
      ),
    );
  }

  async groupConfig(group: string): Promise<SubscriptionGroupConfig | undefined> {
    try {
      return await this.gateway.getGroup(group);
    } catch (e) {
      // Not created yet: a receive creates it with the defaults (not orderly).
      if (e instanceof CirrusError && e.code === 'GROUP_NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Hands back what was asked ahead and not taken (released: not counted as an attempt), then closes. */
  close(): void {
    this.closed = true;
    const held = [...this.aheads].flatMap(([, a]) => (a.held ? [{ group: a.group, held: a.held }] : []));
    this.aheads.clear();
    if (held.length === 0) this.gateway.close();
    else void Promise.allSettled(held.map(async (a) => this.release(a.group, await a.held))).then(() => this.gateway.close());
  }
}

const MAX_AHEAD_KEYS = 64;

interface AheadState {
  group: string;
  /** The batch asked ahead (leased already: its invisibility runs), or messages a receive did not take. */
  held: Promise<MessageView[]> | undefined;
  answeredAt: number;
  /** The last answer filled its receive. */
  full: boolean;
}

const aheadKey = (p: ReceiveParams) => `${p.topic}\u0000${p.group}\u0000${p.invisibleMs}\u0000${p.filter ?? ''}`;

/** `first`, then what `next` brings (itself asked ahead), as one held batch. */
function prepend(first: MessageView[], next: Promise<MessageView[]> | undefined): Promise<MessageView[]> {
  return next ? next.then((more) => first.concat(more)) : Promise.resolve(first);
}

/** What the receive route takes in `ack` (as its ack route). */
const isHandleText = (h: unknown) => typeof h === 'string' && h.length >= 1 && h.length <= ConsumeLimits.MAX_RECEIPT_HANDLE_CHARS;

/** The indexes of `items` by key, in order (one list per key, not a copy per item). */
function groupIndexes<T>(items: readonly T[], key: (t: T) => string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i < items.length; i++) {
    const k = key(items[i]!);
    const list = out.get(k);
    if (list) list.push(i);
    else out.set(k, [i]);
  }
  return out;
}
