/**
 * The broker's remoting endpoint in process: the same routes over frames and over HTTP at
 * once, many requests in flight on one connection answered out of order, a cancelled long
 * poll leaving the broker's waiters, an END_WAIT answering a long poll at once, a wake spent
 * on a poll whose wait ended passed on, bad bytes closing only their connection, an oversize
 * request answered PAYLOAD_TOO_LARGE on a connection that goes on, and a graceful close.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BrokerClient,
  BrokerTransport,
  CirrusError,
  ContentTypes,
  encodeEndWait,
  encodeRequestHead,
  FrameDecoder,
  type PopRequest,
  decodePopResult,
  type ResponseFrame,
  REMOTING_FRAMES_HEADER,
  REMOTING_PATH,
  REMOTING_UPGRADE,
} from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import { PopFixture } from '../testing/pop-fixture';
import { sendBody } from '../testing/fixtures';
import { SAFETY_RECHECK_MS } from '../consumer/pop-long-polling-service';
import { MAX_SEND_BODY_BYTES } from './send-message-processor';

let f: PopFixture;
let addr: string;

beforeEach(async () => {
  f = await new PopFixture().start();
  f.nameServer.addTopic('Orders', 4);
  f.nameServer.addTopic('One', 1);
  addr = `127.0.0.1:${(f.server.address() as AddressInfo).port}`;
});

afterEach(() => f.close());

const popReq = (r: Partial<PopRequest> = {}): PopRequest => ({ topic: 'Orders', group: 'g1', max: 32, invisibleMs: 30_000, waitMs: 0, ...r });

/** A raw remoting socket: upgraded, then frames by hand. */
async function rawConnection(): Promise<{ socket: net.Socket; frames: ResponseFrame[]; closed: Promise<void>; head: string }> {
  const socket = net.connect({ host: '127.0.0.1', port: (f.server.address() as AddressInfo).port });
  const frames: ResponseFrame[] = [];
  const decoder = new FrameDecoder(64 << 20);
  let head = '';
  let upgraded = false;
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.on('data', (chunk: Buffer) => {
    if (!upgraded) {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      chunk = Buffer.from(head.slice(end + 4), 'latin1');
    }
    for (const fr of decoder.push(chunk)) frames.push(fr as ResponseFrame);
  });
  socket.write(`GET ${REMOTING_PATH} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: ${REMOTING_UPGRADE}\r\n\r\n`);
  await waitFor('upgraded', 5_000, async () => upgraded, 5);
  expect(head.startsWith('HTTP/1.1 101')).toBe(true);
  return { socket, frames, closed, head };
}

const health = (id: number) => encodeRequestHead(id, 'GET', '/healthz', undefined, 0);

describe('remoting on the broker port', () => {
  it('serves HTTP and remoting clients at once, the same routes and answers (errors included)', async () => {
    const http = new BrokerClient(addr, { transport: 'http' });
    try {
      await f.client.sendBatch(sendBody('Orders', 0, ['over remoting']));
      await http.sendBatch(sendBody('Orders', 0, ['over http']));
      expect(f.server.remoting.size()).toBe(1);
      const viaRemoting = await f.client.pull('Orders', 0, 0, 10);
      const viaHttp = await http.pull('Orders', 0, 0, 10);
      expect(viaRemoting.messages.map((m) => m.body.toString())).toEqual(['over remoting', 'over http']);
      expect(viaHttp).toEqual(viaRemoting);
      const popped = await f.client.pop(popReq({ queueId: 0 }), 'broker-a');
      expect(popped).toHaveLength(2);
      expect((await http.ack({ topic: 'Orders', group: 'g1', receiptHandles: [popped[0]!.receiptHandle] })).results).toEqual([{ status: 'OK' }]);
      expect((await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: [popped[1]!.receiptHandle] })).results).toEqual([{ status: 'OK' }]);
      const errors = async (c: BrokerClient) => {
        const codes: [string, number][] = [];
        for (const call of [() => c.pop(popReq({ topic: 'Nowhere' }), 'broker-a'), () => c.sendBatch(Buffer.from('not a batch'))]) {
          const e = await call().catch((x: unknown) => x);
          expect(e).toBeInstanceOf(CirrusError);
          codes.push([(e as CirrusError).code, (e as CirrusError).status]);
        }
        return codes;
      };
      const overHttp = await errors(http);
      expect(overHttp.map(([code]) => code)).toEqual(['TOPIC_NOT_FOUND', expect.any(String)]);
      expect(await errors(f.client)).toEqual(overHttp);
      expect(f.server.remoting.size()).toBe(1);
    } finally {
      http.close();
    }
  });

  it('many requests in flight on one connection, answered out of order: sends and acks pass a parked long poll', async () => {
    const parked = f.client.pop(popReq({ topic: 'One', waitMs: 15_000 }), 'broker-a');
    await waitFor('the long poll parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
    const sends = await Promise.all(Array.from({ length: 50 }, (_, i) => f.client.sendBatch(sendBody('Orders', i % 4, [`m${i}`]))));
    expect(sends.every((s) => s.status === 'SEND_OK')).toBe(true);
    const got = await f.client.pop(popReq(), 'broker-a');
    expect(got.length).toBeGreaterThan(0);
    const acked = await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: got.map((m) => m.receiptHandle) });
    expect(acked.results.every((r) => r.status === 'OK')).toBe(true);
    expect(f.popService.polling.parked()).toBe(1);
    await f.client.sendBatch(sendBody('One', 0, ['wake']));
    expect((await parked).map((m) => m.body.toString())).toEqual(['wake']);
    expect(f.server.remoting.size()).toBe(1);
  });

  it('an aborted or timed-out long poll leaves the broker at once (its waiter is gone), the connection goes on', async () => {
    const t = new BrokerTransport(addr);
    try {
      const abort = new AbortController();
      const body = JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 }));
      const poll = t.request({ method: 'POST', path: '/v1/consume/pop', body, timeoutMs: 20_000, signal: abort.signal });
      await waitFor('parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
      abort.abort(new Error('consumer gone'));
      await expect(poll).rejects.toThrow('consumer gone');
      await waitFor('the waiter gone', 2_000, async () => f.popService.polling.parked() === 0, 5);

      const late = t.request({ method: 'POST', path: '/v1/consume/pop', body, timeoutMs: 300 });
      await expect(late).rejects.toMatchObject({ code: 'TIMEOUT' });
      await waitFor('the timed-out waiter gone', 2_000, async () => f.popService.polling.parked() === 0, 5);
      // Nothing leased to the requests that left: the message goes to the next receive.
      await f.client.sendBatch(sendBody('One', 0, ['kept']));
      expect((await f.client.pop(popReq({ topic: 'One' }), 'broker-a')).map((m) => m.body.toString())).toEqual(['kept']);
      expect((await t.request({ method: 'GET', path: '/healthz' })).status).toBe(200);
    } finally {
      t.close();
    }
  });

  it('over HTTP too, a long poll whose client left frees its waiter at once (not at its wait)', async () => {
    const t = new BrokerTransport(addr, { transport: 'http' });
    try {
      const abort = new AbortController();
      const body = JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 }));
      const poll = t.request({ method: 'POST', path: '/v1/consume/pop', body, timeoutMs: 20_000, signal: abort.signal });
      await waitFor('parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
      abort.abort(new Error('consumer gone'));
      await expect(poll).rejects.toThrow('consumer gone');
      await waitFor('the waiter gone', 2_000, async () => f.popService.polling.parked() === 0, 5);
      // Gone for good, not between two parks: a message sent now goes to the next receive, not to the poll that left.
      const next = f.client.pop(popReq({ topic: 'One', waitMs: 5_000 }), 'broker-a');
      await waitFor('the next receive parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
      await f.client.sendBatch(sendBody('One', 0, ['kept']));
      expect((await next).map((m) => m.body.toString())).toEqual(['kept']);
    } finally {
      t.close();
    }
  });

  it('END_WAIT: a parked long poll answers at once with nothing leased, even one asked in the same write as its request; the 101 lists it', async () => {
    const t = new BrokerTransport(addr);
    try {
      const endWait = new AbortController();
      const body = JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 }));
      const poll = t.request({ method: 'POST', path: '/v1/consume/pop', body, timeoutMs: 20_000, endWait: endWait.signal });
      await waitFor('parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
      const asked = Date.now();
      endWait.abort();
      const res = await poll;
      expect(Date.now() - asked).toBeLessThan(5_000);
      expect(res.status).toBe(200);
      expect(decodePopResult(res.body, 'broker-a')).toEqual([]);
      expect(f.popService.polling.parked()).toBe(0);
      // Nothing was leased to it: the next message goes to the next receive.
      await f.client.sendBatch(sendBody('One', 0, ['kept']));
      expect((await f.client.pop(popReq({ topic: 'One' }), 'broker-a')).map((m) => m.body.toString())).toEqual(['kept']);
    } finally {
      t.close();
    }

    const raw = await rawConnection();
    expect(raw.head.toLowerCase()).toContain(`\r\n${REMOTING_FRAMES_HEADER}: end-wait\r\n`);
    const pop = Buffer.from(JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 })));
    // The END_WAIT arrives before the processor has read the body; an END_WAIT for an id not in flight is ignored.
    raw.socket.write(
      Buffer.concat([
        encodeRequestHead(1, 'POST', '/v1/consume/pop', { 'content-type': 'application/json' }, pop.length),
        pop,
        encodeEndWait(1),
        encodeEndWait(99),
        health(2),
      ]),
    );
    await waitFor('both answered', 5_000, async () => raw.frames.length === 2, 5);
    expect(raw.frames.map((fr) => [fr.id, fr.status]).sort()).toEqual([
      [1, 200],
      [2, 200],
    ]);
    raw.socket.destroy();
  });

  it('a wake spent on a long poll whose wait just ended goes to the next parked receive, not to its recheck a second later', async () => {
    const first = new AbortController();
    const second = new AbortController();
    const one = popReq({ topic: 'One', waitMs: 15_000 });
    const firstPoll = f.popService.pop(one, first.signal);
    await waitFor('the first parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
    const secondPoll = f.popService.pop(one, second.signal);
    await waitFor('the second parked', 5_000, async () => f.popService.polling.parked() === 2, 5);
    const secondParkedAt = Date.now();
    // The arrival wakes the oldest waiter, the first, whose wait ends in the same turn.
    const polling = f.popService.polling;
    const arriving = polling.notifyMessageArriving.bind(polling);
    polling.notifyMessageArriving = (topic, queueId) => {
      arriving(topic, queueId);
      first.abort();
    };
    await f.send('One', 0, ['passed on']);
    expect((await firstPoll).messages).toEqual([]);
    const got = await secondPoll;
    expect(got.records.length).toBe(1);
    // Its own recheck would come SAFETY_RECHECK_MS after it parked.
    expect(Date.now() - secondParkedAt).toBeLessThan(SAFETY_RECHECK_MS / 2);
  });

  it('garbage closes that connection only (the broker keeps serving); an oversize request is refused and its connection goes on', async () => {
    const bad = await rawConnection();
    bad.socket.write(Buffer.from([0, 0, 0, 5, 99, 0, 0, 0, 1]));
    await bad.closed;
    expect(await f.client.progress('Orders', 'g1')).toBeDefined();

    const big = await rawConnection();
    const bodyLength = MAX_SEND_BODY_BYTES + 70 * 1024;
    big.socket.write(encodeRequestHead(7, 'POST', '/v1/send', { 'content-type': ContentTypes.SEND_BATCH }, bodyLength));
    big.socket.write(Buffer.alloc(bodyLength));
    big.socket.write(health(8));
    await waitFor('two answers', 10_000, async () => big.frames.length === 2, 5);
    expect(big.frames.map((fr) => [fr.id, fr.status])).toEqual([
      [7, 413],
      [8, 200],
    ]);
    expect(JSON.parse(big.frames[0]!.body.toString()).error.code).toBe('PAYLOAD_TOO_LARGE');
    big.socket.destroy();
  });

  it("an idle remoting connection outlives the HTTP server's keep-alive timeout that closes idle HTTP connections", async () => {
    f.server.keepAliveTimeout = 100;
    await f.client.progress('Orders', 'g1');
    const httpSocket = net.connect({ host: '127.0.0.1', port: (f.server.address() as AddressInfo).port });
    const httpClosed = new Promise<void>((r) => httpSocket.on('close', () => r()));
    httpSocket.on('data', () => {});
    httpSocket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await httpClosed;
    expect(f.server.remoting.size()).toBe(1);
    await f.client.progress('Orders', 'g1');
    expect(f.server.remoting.size()).toBe(1);
  });

  it('close(): answers in flight go out, a request arriving meanwhile is answered 503, then the connection ends', async () => {
    const raw = await rawConnection();
    raw.socket.write(
      Buffer.concat([
        encodeRequestHead(
          1,
          'POST',
          '/v1/consume/pop',
          { 'content-type': 'application/json' },
          Buffer.byteLength(JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 }))),
        ),
        Buffer.from(JSON.stringify(popReq({ topic: 'One', waitMs: 15_000 }))),
      ]),
    );
    await waitFor('parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
    const closed = new Promise<void>((r) => f.server.close(() => r()));
    raw.socket.write(health(2));
    await waitFor('the 503', 5_000, async () => raw.frames.length === 1, 5);
    expect([raw.frames[0]!.id, raw.frames[0]!.status]).toEqual([2, 503]);
    // The controller's shutdown wakes parked receives: each answers what it has.
    f.popService.shutdown();
    await raw.closed;
    expect(raw.frames.map((fr) => [fr.id, fr.status])).toEqual([
      [2, 503],
      [1, 200],
    ]);
    await closed;
  });
});
