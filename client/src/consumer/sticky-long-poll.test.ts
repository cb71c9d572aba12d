/**
 * The long polls kept across receives, against scripted pops: a broker's poll is answered
 * by the test when it chooses (with messages, empty, or an error), and every pop, END_WAIT
 * and release is recorded.
 */
import { describe, expect, it } from 'vitest';
import { CirrusError } from '../errors.js';
import type { ReceiveParams } from './consume-backend.js';
import type { MessageView } from './message-view.js';
import { LINGER_MS, type PollTarget, StickyLongPoll } from './sticky-long-poll.js';

interface ScriptedPop {
  broker: string;
  waitMs: number;
  max: number;
  ended: boolean;
  /** Answered or failed. */
  done: boolean;
  answer(messages: MessageView[]): void;
  fail(e: CirrusError): void;
}

const params: ReceiveParams = { topic: 't', group: 'g', max: 32, invisibleMs: 30_000, waitMs: 20_000 };
const brokers: PollTarget[] = [
  { brokerName: 'a', addr: 'a:1' },
  { brokerName: 'b', addr: 'b:1' },
];

function harness(opts: { ignoreEndWait?: boolean } = {}) {
  const pops: ScriptedPop[] = [];
  const released: string[] = [];
  const polls = new StickyLongPoll(params, {
    pop: (b, p, waitMs, endWait) =>
      new Promise((resolve, reject) => {
        const pop: ScriptedPop = {
          broker: b.brokerName,
          waitMs,
          max: p.max,
          ended: false,
          done: false,
          answer: (m) => {
            pop.done = true;
            resolve(m);
          },
          fail: (e) => {
            pop.done = true;
            reject(e);
          },
        };
        // END_WAIT: the broker answers at once with what it has (nothing, here).
        endWait.addEventListener('abort', () => {
          pop.ended = true;
          if (!opts.ignoreEndWait) pop.answer([]);
        });
        pops.push(pop);
      }),
    release: async (messages) => {
      released.push(...messages.map((m) => m.messageId));
    },
  });
  const open = (broker: string) => pops.filter((p) => p.broker === broker && !p.done);
  /** A first receive, answered by a's poll with one message: b's poll stays parked. */
  const answeredByA = async () => {
    const first = polls.receive(brokers, 32, 20_000);
    open('a')[0]!.answer([msg('m1')]);
    await first;
  };
  return { polls, pops, released, open, answeredByA };
}

function msg(id: string, brokerName = 'a'): MessageView {
  return {
    messageId: id,
    topic: 't',
    body: Buffer.from(id),
    keys: [],
    properties: {},
    brokerName,
    queueId: 0,
    queueOffset: 0,
    bornTimestamp: 0,
    storeTimestamp: 0,
    deliveryAttempt: 1,
    receiptHandle: `h-${id}`,
  };
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (ms: MessageView[]) => ms.map((m) => m.messageId);

describe('StickyLongPoll', () => {
  it('answers with the first broker that has messages and keeps the other poll parked for the next receive', async () => {
    const { polls, pops, open } = harness();
    const first = polls.receive(brokers, 32, 20_000);
    expect(pops.map((p) => p.broker)).toEqual(['a', 'b']);
    open('b')[0]!.answer([msg('m1', 'b')]);
    expect(ids(await first)).toEqual(['m1']);

    // The next receive asks only b again: a's poll is still parked, and it answers this one.
    const second = polls.receive(brokers, 32, 20_000);
    expect(pops.map((p) => p.broker)).toEqual(['a', 'b', 'b']);
    open('a')[0]!.answer([msg('m2', 'a')]);
    expect(ids(await second)).toEqual(['m2']);
    expect(pops.filter((p) => p.ended)).toEqual([]);
    await polls.close();
    expect(open('a').length + open('b').length).toBe(0);
  });

  it('holds what a poll leases between receives for the next one', async () => {
    const { polls, open, released, answeredByA } = harness();
    await answeredByA();
    open('b')[0]!.answer([msg('m2', 'b')]);
    await tick();
    expect(ids(await polls.receive(brokers, 32, 20_000))).toEqual(['m2']);
    expect(released).toEqual([]);
    await polls.close();
  });

  it('hands a batch larger than the receive asks for out over the next receives', async () => {
    const { polls, open } = harness();
    const first = polls.receive(brokers, 2, 20_000);
    open('a')[0]!.answer([msg('m1'), msg('m2'), msg('m3')]);
    expect(ids(await first)).toEqual(['m1', 'm2']);
    expect(ids(await polls.receive(brokers, 2, 20_000))).toEqual(['m3']);
    await polls.close();
  });

  it(`ends the parked polls and releases what it holds when no receive comes within ${LINGER_MS} ms`, async () => {
    const { polls, pops, open, released, answeredByA } = harness();
    await answeredByA();
    open('b')[0]!.answer([msg('m2', 'b')]);
    const until = Date.now() + 5_000;
    while ((released.length === 0 || open('b').length > 0) && Date.now() < until) await sleep(10);
    expect(released).toEqual(['m2']);
    // Nothing is parked any more: the next receive polls both brokers afresh.
    const n = pops.length;
    const next = polls.receive(brokers, 32, 20_000);
    expect(pops.slice(n).map((p) => p.broker)).toEqual(['a', 'b']);
    await polls.close();
    expect(await next).toEqual([]);
  });

  it('refill() asks again the broker that answered (the ack to it is being sent), once, and only within the linger', async () => {
    const { polls, pops, open, answeredByA } = harness();
    await answeredByA();
    polls.refill('b'); // b's poll is still parked, and it answered nothing
    expect(open('b')).toHaveLength(1);
    polls.refill('a');
    expect(open('a')).toHaveLength(1);
    expect(pops.at(-1)).toMatchObject({ broker: 'a', waitMs: 20_000 });
    polls.refill('a'); // asked already
    expect(open('a')).toHaveLength(1);
    // The next receive takes the refilled poll instead of asking a again.
    const n = pops.length;
    const next = polls.receive(brokers, 32, 20_000);
    expect(pops.length).toBe(n);
    open('a')[0]!.answer([msg('m2')]);
    expect(ids(await next)).toEqual(['m2']);

    // No receive within the linger: its end ends the polls, and a late ack asks no broker again.
    const until = Date.now() + 5_000;
    while (open('b').length > 0 && Date.now() < until) await sleep(10);
    expect(open('b')).toHaveLength(0);
    const m = pops.length;
    polls.refill('a');
    expect(pops.length).toBe(m);
    await polls.close();
  });

  it('refill() asks no broker while messages are held for the next receive', async () => {
    const { polls, pops, open } = harness();
    const first = polls.receive(brokers, 1, 20_000);
    open('a')[0]!.answer([msg('m1'), msg('m2')]);
    expect(ids(await first)).toEqual(['m1']);
    const n = pops.length;
    polls.refill('a');
    expect(pops.length).toBe(n);
    expect(ids(await polls.receive(brokers, 1, 20_000))).toEqual(['m2']);
    await polls.close();
  });

  it('answers empty when the wait runs out, and keeps waiting on a broker whose older poll ran out first', async () => {
    const { polls, pops, open, answeredByA } = harness();
    await answeredByA();
    // b's poll is adopted; it runs out (empty) while the receive has time left: b is asked again.
    const second = polls.receive(brokers, 32, 20_000);
    open('b')[0]!.answer([]);
    await tick();
    expect(open('b')).toHaveLength(1);
    expect(pops.filter((p) => p.broker === 'b')).toHaveLength(2);
    // A receive with a short wait answers empty when it runs out.
    await polls.close();
    expect(await second).toEqual([]);
    const { polls: p2 } = harness();
    const started = Date.now();
    expect(await p2.receive(brokers, 32, 150)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await p2.close();
  });

  it('does not adopt a poll that would outlast a shorter wait', async () => {
    const { polls, pops, open, answeredByA } = harness();
    await answeredByA();
    const short = polls.receive(brokers, 32, 1_000);
    // b's 20 s poll was ended and both are asked for 1 s.
    expect(pops.find((p) => p.broker === 'b' && p.waitMs === 20_000)!.ended).toBe(true);
    expect(open('a').map((p) => p.waitMs)).toEqual([1_000]);
    expect(open('b').map((p) => p.waitMs)).toEqual([1_000]);
    open('b')[0]!.answer([msg('m2', 'b')]);
    expect(ids(await short)).toEqual(['m2']);
    await polls.close();
  });

  it('fails a receive only when every broker failed; one failure leaves it waiting on the others', async () => {
    const { polls, open } = harness();
    const oneFails = polls.receive(brokers, 32, 20_000);
    open('a')[0]!.fail(new CirrusError('BROKER_UNAVAILABLE', 'a is down'));
    await tick();
    open('b')[0]!.answer([msg('m1', 'b')]);
    expect(ids(await oneFails)).toEqual(['m1']);

    const allFail = polls.receive(brokers, 32, 20_000);
    for (const p of [...open('a'), ...open('b')]) p.fail(new CirrusError('BROKER_UNAVAILABLE', 'down'));
    await expect(allFail).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });
    await polls.close();
  });

  it('close() answers a waiting receive empty, ends the polls and releases what they lease after', async () => {
    const { polls, pops, released } = harness();
    const waiting = polls.receive(brokers, 32, 20_000);
    const closed = polls.close();
    expect(await waiting).toEqual([]);
    expect(pops.every((p) => p.ended)).toBe(true);
    await closed;
    expect(released).toEqual([]);

    // A poll that had leased before its END_WAIT arrived: the lease goes back, and close() waits for that.
    const h = harness({ ignoreEndWait: true });
    const w = h.polls.receive(brokers, 32, 20_000);
    h.pops.find((p) => p.broker === 'a')!.answer([msg('m1')]);
    await w;
    const late = h.pops.find((p) => p.broker === 'b')!;
    let closeDone = false;
    const closing = h.polls.close().then(() => (closeDone = true));
    await tick();
    expect(late.ended).toBe(true);
    expect(closeDone).toBe(false);
    late.answer([msg('late', 'b')]);
    await closing;
    expect(h.released).toEqual(['late']);
  });
});
