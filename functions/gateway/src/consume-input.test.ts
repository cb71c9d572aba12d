import { describe, expect, it } from 'vitest';
import { CirrusError } from '@cirrusmq/client/protocol';
import { parseWith } from './api/check';
import { AckRequestSchema, ReceiveRequestSchema, TopicGroupParams } from './api/consume-schemas';
import { ackInput, receiveInput, topicGroup } from './consume-input';

/** The value, or the CirrusError's code and message. */
function outcome(f: () => unknown): unknown {
  try {
    const v = f() as Record<string, unknown>;
    // zod leaves an absent optional field out; the fast path writes it as undefined.
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
  } catch (e) {
    if (!(e instanceof CirrusError)) throw e;
    return { code: e.code, message: e.message };
  }
}

/** Handle lists in and out of the ack limits (1 to 100 handles of 1 to 1024 characters). */
const ackLists: unknown[] = [
  'v2.a.b',
  [],
  ['v2.a.b'],
  ['v2.a.b', ''],
  ['v2.a.b', 7],
  ['x'.repeat(1024)],
  ['x'.repeat(1025)],
  Array.from({ length: 100 }, (_, i) => `h${i}`),
  Array.from({ length: 101 }, (_, i) => `h${i}`),
];

const values = [undefined, 0, 1, 16, 20, 21, 30, 32, 33, -1, 1.5, 43_200, 43_201, '4', null, true];

describe('consume inputs without zod', () => {
  it('a receive body gives what ReceiveRequestSchema gives, value or refusal', () => {
    let n = 0;
    for (const max of values)
      for (const invisibleSeconds of values)
        for (const waitSeconds of values)
          for (const filter of [undefined, '*', 'A||B', 'A ||', 7]) {
            const body: Record<string, unknown> = { max, invisibleSeconds, waitSeconds, filter, unknown: 'ignored' };
            for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
            expect(
              outcome(() => receiveInput(body)),
              JSON.stringify(body),
            ).toEqual(outcome(() => parseWith(ReceiveRequestSchema, body)));
            n++;
          }
    expect(n).toBe(values.length ** 3 * 5);
  });

  it("a receive body's ack gives what ReceiveRequestSchema gives, value or refusal", () => {
    for (const ack of ackLists) {
      for (const base of [{}, { max: 32, waitSeconds: 0 }, { max: 33 }, { filter: 'A' }]) {
        const body = { ...base, ack };
        expect(
          outcome(() => receiveInput(body)),
          JSON.stringify(body).slice(0, 200),
        ).toEqual(outcome(() => parseWith(ReceiveRequestSchema, body)));
      }
    }
  });

  it('an ack body gives what AckRequestSchema gives, value or refusal', () => {
    const bodies = [{}, ...ackLists.map((receiptHandles) => ({ receiptHandles }))];
    for (const body of bodies) expect(outcome(() => ackInput(body))).toEqual(outcome(() => parseWith(AckRequestSchema, body)));
  });

  it('topic and group are checked by TopicGroupParams, once per pair', () => {
    for (const raw of [
      { topic: 'orders', group: 'billing' },
      { topic: 'orders', group: 'billing' },
      { topic: 'bad topic', group: 'billing' },
      { topic: 'orders', group: 'rmq_sys_x' },
      { topic: 'orders', group: '%DLQ%x' },
    ]) {
      expect(outcome(() => topicGroup(raw))).toEqual(outcome(() => parseWith(TopicGroupParams, raw)));
    }
    expect(topicGroup({ topic: 'orders', group: 'billing' })).toBe(topicGroup({ topic: 'orders', group: 'billing' }));
  });
});
