/**
 * GatewayConsumeBackend's acks against a stand-in gateway (node:http, JSON answers): an ack
 * with no receive after it goes alone; one followed at once by a receive of its topic and
 * group rides on that receive, which then does not long-poll (an empty answer is polled again,
 * acks done); a failed receive fails the acks it carried. A fast loop over full batches gets
 * its next batch asked one receive ahead; a slow one does not; close hands back what is held.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayClient } from '../api/gateway-client.js';
import { GatewayConsumeBackend } from './gateway-backend.js';
import type { MessageView } from './message-view.js';

interface Seen {
  path: string;
  body: { ack?: string[]; receiptHandles?: string[]; waitSeconds?: number; entries?: { receiptHandle: string }[] };
}

const seen: Seen[] = [];
/** What the stand-in answers a receive: messages (JSON) or an error status. */
let receiveAnswer: (body: Seen['body']) => { status: number; json: unknown } = () => ({ status: 200, json: { messages: [] } });
const server = http.createServer((req, res) => {
  let text = '';
  req.on('data', (c) => (text += c));
  req.on('end', () => {
    const body = JSON.parse(text) as Seen['body'];
    seen.push({ path: req.url!, body });
    res.setHeader('content-type', 'application/json');
    if (req.url!.endsWith('/ack')) return res.end(JSON.stringify({ results: body.receiptHandles!.map(() => ({ status: 'OK' })) }));
    const a = receiveAnswer(body);
    res.statusCode = a.status;
    res.end(JSON.stringify(a.json));
  });
});
let backend: GatewayConsumeBackend;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend = new GatewayConsumeBackend(new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
});
afterAll(async () => {
  backend.close();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
});

const leased = (topic: string, handle: string) => ({ topic, receiptHandle: handle }) as MessageView;
const receive = (topic: string, waitMs = 0) => backend.receive({ topic, group: 'g', max: 4, invisibleMs: 30_000, waitMs });
const OK_MESSAGE = {
  messageId: 'ID1',
  receiptHandle: 'v2.b.h9',
  deliveryAttempt: 1,
  body: 'x',
  bodyEncoding: 'utf8',
  keys: [],
  properties: {},
  broker: 'b',
  queueId: 0,
  queueOffset: 0,
  bornTimestamp: 1,
  storeTimestamp: 2,
};

describe('GatewayConsumeBackend acks', () => {
  it('an ack with no receive after it goes alone', async () => {
    expect(await backend.ack('g', [leased('t', 'v2.b.h1'), leased('t', 'v2.b.h2')])).toEqual([null, null]);
    expect(seen.map((s) => [s.path, s.body.receiptHandles])).toEqual([['/v1/topics/t/groups/g/ack', ['v2.b.h1', 'v2.b.h2']]]);
  });

  it('rides on a receive of its topic and group that starts at once; an empty answer is then long-polled without it', async () => {
    receiveAnswer = (body) => ({
      status: 200,
      json: body.ack
        ? {
            messages: [],
            ackResults: body.ack.map((h) =>
              h === 'v2.b.bad' ? { status: 'FAILED', error: { code: 'RECEIPT_HANDLE_EXPIRED', message: 'gone' } } : { status: 'OK' },
            ),
          }
        : { messages: [OK_MESSAGE] },
    });
    const acked = backend.ack('g', [leased('t', 'v2.b.h1'), leased('other', 'v2.b.o1'), leased('t', 'v2.b.bad')]);
    const got = await receive('t', 5000);
    const outcomes = await acked;
    expect(got.map((m) => m.receiptHandle)).toEqual(['v2.b.h9']);
    expect(outcomes[0]).toBeNull();
    expect(outcomes[1]).toBeNull();
    expect(outcomes[2]?.code).toBe('RECEIPT_HANDLE_EXPIRED');
    const receives = seen.filter((s) => s.path.endsWith('/receive')).map((s) => [s.body.ack, s.body.waitSeconds]);
    expect(receives).toEqual([
      [['v2.b.h1', 'v2.b.bad'], 0],
      [undefined, 5],
    ]);
    // The other topic's handle went alone.
    expect(seen.filter((s) => s.path.endsWith('/ack')).map((s) => [s.path, s.body.receiptHandles])).toEqual([['/v1/topics/other/groups/g/ack', ['v2.b.o1']]]);
  });

  it('a receive refused whole (400) sends the acks it carried on their own; a handle the route would refuse is never carried', async () => {
    receiveAnswer = () => ({ status: 400, json: { error: { code: 'INVALID_PARAMETER', message: 'max out of range' } } });
    const acked = backend.ack('g', [leased('t', 'v2.b.h1')]);
    await expect(receive('t')).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    expect(await acked).toEqual([null]);
    const odd = backend.ack('g', [leased('t', 'x'.repeat(1025))]);
    receiveAnswer = () => ({ status: 200, json: { messages: [] } });
    await receive('t');
    expect(await odd).toEqual([null]);
    expect(seen.filter((s) => s.path.endsWith('/receive')).map((s) => s.body.ack)).toEqual([['v2.b.h1'], undefined]);
    expect(seen.filter((s) => s.path.endsWith('/ack')).map((s) => s.body.receiptHandles)).toEqual([['v2.b.h1'], ['x'.repeat(1025)]]);
  });

  it('a receive that fails otherwise fails the acks it carried', async () => {
    receiveAnswer = () => ({ status: 503, json: { error: { code: 'BROKER_UNAVAILABLE', message: 'down' } } });
    const acked = backend.ack('g', [leased('t', 'v2.b.h1')]);
    await expect(receive('t')).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });
    const [outcome] = await acked;
    expect(outcome?.code).toBe('BROKER_UNAVAILABLE');
    expect(seen.filter((s) => s.path.endsWith('/ack'))).toEqual([]);
  });
});

describe('GatewayConsumeBackend asks one receive ahead', () => {
  let n = 0;
  /** Two messages per receive, each with a handle of its own. */
  const twoMessages = (body: Seen['body']) => ({
    status: 200,
    json: {
      messages: [0, 1].map(() => ({ ...OK_MESSAGE, receiptHandle: `v2.b.m${++n}` })),
      ackResults: body.ack?.map(() => ({ status: 'OK' })),
    },
  });
  const receives = () => seen.filter((s) => s.path.endsWith('/receive'));

  it('a fast loop over full batches: each receive answers with the batch asked before it and sends the next with the acks just queued', async () => {
    receiveAnswer = twoMessages;
    // A gap no busy machine reaches: this loop is fast by definition.
    const own = new GatewayConsumeBackend(new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 60_000);
    const loop = (waitMs: number) => own.receive({ topic: 't', group: 'g', max: 2, invisibleMs: 30_000, waitMs });
    const first = await loop(5000); // the loop's speed is not known yet: nothing ahead
    await vi.waitFor(() => expect(receives()).toHaveLength(1));
    const acked1 = own.ack('g', first);
    const second = await loop(5000); // came back at once: answered, and the next is asked now
    expect(await acked1).toEqual([null, null]);
    await vi.waitFor(() => expect(receives()).toHaveLength(3));
    const acked2 = own.ack('g', second);
    const third = await loop(5000); // the batch asked ahead; the next leaves carrying the acks of `second`
    expect(await acked2).toEqual([null, null]);
    await vi.waitFor(() => expect(receives()).toHaveLength(4));
    expect(third.map((m) => m.receiptHandle)).toEqual(['v2.b.m5', 'v2.b.m6']);
    expect(receives().map((s) => [s.body.ack, s.body.waitSeconds])).toEqual([
      [undefined, 5],
      [first.map((m) => m.receiptHandle), 0],
      [undefined, 0],
      [second.map((m) => m.receiptHandle), 0],
    ]);
    expect(seen.filter((s) => s.path.endsWith('/ack'))).toEqual([]);
    // What was asked ahead and not taken goes back at close.
    own.close();
    await vi.waitFor(() =>
      expect(seen.filter((s) => s.path.endsWith('/change-invisibility')).flatMap((s) => s.body.entries!.map((e) => e.receiptHandle))).toEqual([
        'v2.b.m7',
        'v2.b.m8',
      ]),
    );
  });

  it('a loop that comes back later than the gap, or a batch that is not full, gets nothing asked ahead', async () => {
    receiveAnswer = twoMessages;
    const own = new GatewayConsumeBackend(new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 100);
    const slow = (max: number) => own.receive({ topic: 't', group: 'g', max, invisibleMs: 30_000, waitMs: 0 });
    await slow(2);
    await new Promise((r) => setTimeout(r, 150));
    await slow(2);
    await slow(4); // fast, but two of four: not full
    await slow(4);
    await new Promise((r) => setTimeout(r, 50));
    expect(receives()).toHaveLength(4);
    own.close();
  });

  it('where the backlog ends, the acks still ride on a receive: the one asked ahead, or the long poll after an empty one', async () => {
    let left = 5; // messages in the stand-in's backlog
    receiveAnswer = (body) => {
      const take = Math.min(2, left);
      left -= take;
      return {
        status: 200,
        json: {
          messages: Array.from({ length: take }, () => ({ ...OK_MESSAGE, receiptHandle: `v2.b.e${++n}` })),
          ackResults: body.ack?.map(() => ({ status: 'OK' })),
        },
      };
    };
    const own = new GatewayConsumeBackend(new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 60_000);
    const got: string[] = [];
    const acks: Promise<unknown>[] = [];
    for (;;) {
      const batch = await own.receive({ topic: 't', group: 'g', max: 2, invisibleMs: 30_000, waitMs: 1000 });
      if (batch.length === 0) break;
      got.push(...batch.map((m) => m.receiptHandle));
      acks.push(own.ack('g', batch));
    }
    await Promise.all(acks);
    expect(got).toHaveLength(5);
    expect(new Set(got).size).toBe(5);
    expect(seen.filter((s) => s.path.endsWith('/ack'))).toEqual([]);
    expect(
      receives()
        .flatMap((s) => s.body.ack ?? [])
        .sort(),
    ).toEqual([...got].sort());
    own.close();
  });

  it('a receive whose batch asked ahead came back empty takes the one asked after it, which may have leased what was left', async () => {
    // Answers by arrival: the third receive (asked ahead) finds nothing, the fourth gets the last two.
    const answers = [2, 2, 0, 2];
    receiveAnswer = (body) => ({
      status: 200,
      json: {
        messages: Array.from({ length: answers.shift() ?? 0 }, () => ({ ...OK_MESSAGE, receiptHandle: `v2.b.r${++n}` })),
        ackResults: body.ack?.map(() => ({ status: 'OK' })),
      },
    });
    const own = new GatewayConsumeBackend(new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 60_000);
    const loop = () => own.receive({ topic: 't', group: 'g', max: 2, invisibleMs: 30_000, waitMs: 1000 });
    await loop();
    await loop(); // answered; the third request leaves ahead
    await vi.waitFor(() => expect(receives()).toHaveLength(3));
    const third = await loop(); // the fourth leaves now; the third answers empty
    expect(third).toHaveLength(2);
    expect(receives()).toHaveLength(4); // no long poll while the fourth held the last messages
    own.close();
  });
});
