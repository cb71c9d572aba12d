/**
 * The direct receive's long polls over several brokers, kept across receives. A receive
 * long-polls every broker at once and answers with the first that has messages; the polls on
 * the other brokers stay parked for the next receive instead of being ended and asked again.
 * A consumer that loops (receive, handle, ack, receive) then costs each broker one pop per
 * batch it serves, not a pop, an END_WAIT and an empty answer per receive, and a broker's
 * next message goes to a poll that is already parked.
 *
 * What a poll leases while no receive waits is held for the next one, at most LINGER_MS:
 * then every poll still parked is ended (END_WAIT) and what is held is released (deliverable
 * again at once, not counted as an attempt). A held message's invisibility runs from its
 * lease, so it reaches the application up to LINGER_MS later into it.
 *
 * A broker whose poll answered is asked again when the application acks what it got from that
 * broker (refill), not only at its next receive: the new pop then leaves in the same write as
 * the ack, one write and one wake-up of the broker per batch instead of two. Only within the
 * linger after a receive was answered; a receive that never comes ends it with the linger.
 *
 * One instance per (topic, group, filter, invisibility): the polls ask the brokers for those.
 */
import type { CirrusError } from '../errors.js';
import type { ReceiveParams } from './consume-backend.js';
import type { MessageView } from './message-view.js';

/** How long polls and held messages wait for the next receive after one was answered. */
export const LINGER_MS = 100;
/** A poll that ran out of wait is asked again for a waiting receive only with more than this left. */
const MIN_REPOLL_MS = 50;

export interface PollTarget {
  brokerName: string;
  addr: string;
}

export interface StickyLongPollDeps {
  /** One pop; rejects with a CirrusError. Aborting `endWait` ends the wait (END_WAIT). */
  pop(broker: PollTarget, params: ReceiveParams, waitMs: number, endWait: AbortSignal): Promise<MessageView[]>;
  /** Hands leases back; never rejects. */
  release(messages: MessageView[]): Promise<void>;
}

interface Poll {
  broker: PollTarget;
  endsAt: number;
  endWait: AbortController;
  /** Ended by us (linger over, close): not asked again. */
  ended: boolean;
}

interface Waiter {
  max: number;
  deadline: number;
  /** How many brokers it waits on: it fails only when every one of them failed. */
  brokers: number;
  timer: NodeJS.Timeout;
  /** The brokers whose poll failed while this receive waited, and the last error. */
  failed: Set<string>;
  lastError?: CirrusError;
  resolve(messages: MessageView[]): void;
  reject(e: CirrusError): void;
}

export class StickyLongPoll {
  private readonly parked = new Map<string, Poll>();
  private readonly waiters: Waiter[] = [];
  private held: MessageView[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** Brokers whose poll answered with messages and was not asked again: refill() asks them. */
  private readonly answered = new Map<string, PollTarget>();
  /** The last receive's wait: a refill waits as long. */
  private lastWaitMs = 0;

  constructor(
    private readonly params: ReceiveParams,
    private readonly deps: StickyLongPollDeps,
  ) {}

  serves(topic: string, group: string): boolean {
    return this.params.topic === topic && this.params.group === group;
  }

  /** Up to `max` messages a poll leased after the last receive was answered, if any. */
  takeHeld(max: number): MessageView[] | undefined {
    if (this.held.length === 0) return undefined;
    const out = this.held.splice(0, max);
    if (this.waiters.length === 0) this.armLinger();
    return out;
  }

  /**
   * Waits up to `waitMs` on every one of `brokers` (a poll already parked on a broker is
   * used when it ends no later than this wait): the first messages leased answer it; an
   * empty list when the wait ran out; the last error when every poll failed.
   */
  receive(brokers: readonly PollTarget[], max: number, waitMs: number): Promise<MessageView[]> {
    const held = this.takeHeld(max);
    if (held) return Promise.resolve(held);
    this.clearLinger();
    this.answered.clear();
    this.lastWaitMs = waitMs;
    const deadline = Date.now() + waitMs;
    const wanted = new Set(brokers.map((b) => b.brokerName));
    for (const [name, poll] of this.parked) {
      // A broker dropped from the route, or a poll that would hold this receive past its wait.
      if (!wanted.has(name) || poll.endsAt > deadline + MIN_REPOLL_MS) this.end(poll);
    }
    return new Promise<MessageView[]>((resolve, reject) => {
      const waiter: Waiter = {
        max,
        deadline,
        brokers: brokers.length,
        failed: new Set(),
        resolve,
        reject,
        timer: setTimeout(() => this.settle(waiter, []), waitMs),
      };
      this.waiters.push(waiter);
      for (const b of brokers) if (!this.parked.has(b.brokerName)) this.start(b, waitMs);
    });
  }

  /**
   * The application acks what `broker` answered: a poll there starts now, so that it leaves
   * with the ack. Nothing when no poll of this instance answered from it since the last
   * receive, when one is parked there, or when the linger after the last answer is over.
   */
  refill(brokerName: string): void {
    const broker = this.answered.get(brokerName);
    if (!broker) return;
    this.answered.delete(brokerName);
    // Messages held already answer the next receive: a poll now would only lease more to wait.
    if (this.closed || this.parked.has(brokerName) || this.lingerTimer === undefined || this.held.length > 0) return;
    this.start(broker, this.lastWaitMs);
  }

  /** Ends every poll and hands back what is held; resolves when every poll has answered and its leases went back. */
  close(): Promise<void> {
    this.closed = true;
    this.clearLinger();
    for (const w of [...this.waiters]) this.settle(w, []);
    this.endAll();
    return Promise.allSettled([...this.inFlight]).then(() => undefined);
  }

  private start(broker: PollTarget, waitMs: number): void {
    const poll: Poll = { broker, endsAt: Date.now() + waitMs, endWait: new AbortController(), ended: false };
    this.parked.set(broker.brokerName, poll);
    const done: Promise<void> = this.deps
      .pop(broker, { ...this.params, max: this.waiters[0]?.max ?? this.params.max }, waitMs, poll.endWait.signal)
      .then(
        (messages) => this.onAnswer(poll, messages),
        (e) => this.onFailure(poll, e as CirrusError),
      )
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private onAnswer(poll: Poll, messages: MessageView[]): Promise<void> | undefined {
    this.unpark(poll);
    if (messages.length > 0) {
      if (this.closed) return this.deps.release(messages);
      const rest = messages.slice();
      while (rest.length > 0 && this.waiters.length > 0) this.settle(this.waiters[0]!, rest.splice(0, this.waiters[0]!.max));
      if (rest.length > 0) {
        this.held.push(...rest);
        this.armLinger();
      }
      this.repollFor(poll);
      if (!this.parked.has(poll.broker.brokerName)) this.answered.set(poll.broker.brokerName, poll.broker);
      return;
    }
    this.repollFor(poll);
    this.settleIfNothingLeft();
    return;
  }

  private onFailure(poll: Poll, e: CirrusError): void {
    this.unpark(poll);
    for (const w of this.waiters) {
      w.failed.add(poll.broker.brokerName);
      w.lastError = e;
    }
    this.settleIfNothingLeft();
  }

  /** Receives still waiting keep a poll on this broker; the first one answered is the longest waiting. */
  private repollFor(poll: Poll): void {
    if (this.closed || poll.ended || this.waiters.length === 0 || this.parked.has(poll.broker.brokerName)) return;
    const left = Math.max(...this.waiters.map((w) => w.deadline)) - Date.now();
    if (left > MIN_REPOLL_MS) this.start(poll.broker, left);
  }

  /** No poll left for the receives still waiting: they end now (all failed: with the error). */
  private settleIfNothingLeft(): void {
    if (this.parked.size > 0) return;
    for (const w of [...this.waiters]) {
      if (w.lastError && w.failed.size >= w.brokers) this.fail(w, w.lastError);
      else if (w.deadline - Date.now() <= MIN_REPOLL_MS || this.closed) this.settle(w, []);
    }
  }

  private settle(w: Waiter, messages: MessageView[]): void {
    if (!this.dropWaiter(w)) return;
    w.resolve(messages);
  }

  private fail(w: Waiter, e: CirrusError): void {
    if (!this.dropWaiter(w)) return;
    w.reject(e);
  }

  private dropWaiter(w: Waiter): boolean {
    const i = this.waiters.indexOf(w);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    if (this.waiters.length === 0 && !this.closed) this.armLinger();
    return true;
  }

  private unpark(poll: Poll): void {
    if (this.parked.get(poll.broker.brokerName) === poll) this.parked.delete(poll.broker.brokerName);
  }

  private end(poll: Poll): void {
    poll.ended = true;
    this.unpark(poll);
    poll.endWait.abort();
  }

  private endAll(): void {
    this.answered.clear();
    for (const poll of [...this.parked.values()]) this.end(poll);
    if (this.held.length > 0) {
      const held = this.held;
      this.held = [];
      const released = this.deps.release(held).finally(() => this.inFlight.delete(released));
      this.inFlight.add(released);
    }
  }

  private armLinger(): void {
    this.clearLinger();
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.waiters.length === 0) this.endAll();
    }, LINGER_MS);
  }

  private clearLinger(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
  }
}
