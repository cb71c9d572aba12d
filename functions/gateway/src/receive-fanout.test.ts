/**
 * receiveAcross with brokers played by promises: the long poll's END_WAIT to the brokers that
 * lost, and what a broker leased before it heard it (handed to another parked receive, or
 * released), deterministically, which the process tests cannot make happen on purpose.
 */
import { describe, expect, it } from 'vitest';
import type { PopRequest } from '@cirrusmq/client/protocol';
import type { BrokerTarget } from './broker-route';
import { type FanoutOps, ParkedReceives, receiveAcross } from './receive-fanout';

const targets: BrokerTarget[] = [
  { brokerName: 'broker-a', addr: 'a:1' },
  { brokerName: 'broker-b', addr: 'b:1' },
];
const request: PopRequest = { topic: 'T', group: 'G', max: 4, invisibleMs: 30_000, waitMs: 10_000 };

/** A broker whose long polls the test answers by hand; its waitless pops find nothing. */
class FakeBrokers {
  readonly polls = new Map<string, { answer: (m: string[]) => void; endWait?: AbortSignal }[]>();
  readonly released: string[] = [];
  readonly parked = new ParkedReceives<string>();
  readonly ops: FanoutOps<string> = {
    pop: (target, req, endWait) => {
      if (req.waitMs === 0) return Promise.resolve([]);
      return new Promise((answer) => {
        const list = this.polls.get(target.brokerName) ?? [];
        list.push({ answer, endWait });
        this.polls.set(target.brokerName, list);
      });
    },
    release: async (messages) => {
      this.released.push(...messages);
    },
    parked: this.parked,
  };

  poll(broker: string, i = 0) {
    const p = this.polls.get(broker)?.[i];
    if (!p) throw new Error(`no poll ${i} on ${broker}`);
    return p;
  }

  async parkedOnBoth(n: number) {
    for (let i = 0; i < 50 && !(this.polls.get('broker-a')?.length === n && this.polls.get('broker-b')?.length === n); i++) await Promise.resolve();
    expect([this.polls.get('broker-a')?.length, this.polls.get('broker-b')?.length]).toEqual([n, n]);
  }
}

describe('receiveAcross long poll', () => {
  it('the first broker to answer wins; the other is told to end its wait, and what it leased anyway is released', async () => {
    const b = new FakeBrokers();
    const got = receiveAcross(targets, 0, request, b.ops);
    await b.parkedOnBoth(1);
    expect(b.poll('broker-b').endWait?.aborted).toBe(false);
    b.poll('broker-a').answer(['a1']);
    expect(await got).toEqual(['a1']);
    expect(b.poll('broker-b').endWait?.aborted).toBe(true);
    // broker-b leased before the END_WAIT reached it: nobody is parked to take it over.
    b.poll('broker-b').answer(['b1', 'b2']);
    await Promise.resolve();
    expect(b.released).toEqual(['b1', 'b2']);
  });

  it('a late lease goes to another receive of the same kind parked in this process, not released', async () => {
    const b = new FakeBrokers();
    const first = receiveAcross(targets, 0, request, b.ops);
    await b.parkedOnBoth(1);
    const second = receiveAcross(targets, 1, request, b.ops);
    await b.parkedOnBoth(2);
    b.poll('broker-a', 0).answer(['a1']);
    expect(await first).toEqual(['a1']);
    b.poll('broker-b', 0).answer(['b1']);
    expect(await second).toEqual(['b1']);
    expect(b.released).toEqual([]);
    // The second receive answered too: its own polls are told to end their wait.
    expect(b.poll('broker-a', 1).endWait?.aborted).toBe(true);
    expect(b.poll('broker-b', 1).endWait?.aborted).toBe(true);
  });

  it('every broker answering empty answers empty; nothing is ended early', async () => {
    const b = new FakeBrokers();
    const got = receiveAcross(targets, 0, request, b.ops);
    await b.parkedOnBoth(1);
    b.poll('broker-a').answer([]);
    expect(b.poll('broker-b').endWait?.aborted).toBe(false);
    b.poll('broker-b').answer([]);
    expect(await got).toEqual([]);
  });
});
