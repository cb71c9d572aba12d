/**
 * GatewayConsumeBackend's acks against a stand-in gateway (node:http, JSON answers): an ack
 * with no receive after it goes alone; one followed at once by a receive of its topic and
 * group rides on that receive, which then does not long-poll (an empty answer is polled again,
 * acks done); a failed receive fails the acks it carried.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayClient } from '../api/gateway-client.js';
import { GatewayConsumeBackend } from './gateway-backend.js';
import type { MessageView } from './message-view.js';

interface Seen {
  path: string;
  body: { ack?: string[]; receiptHandles?: string[]; waitSeconds?: number };
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
