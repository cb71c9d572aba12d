import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BrokerSendResponse,
  ContentTypes,
  createLogger,
  decodeRecords,
  encodeTimerBatch,
  Limits,
  PullHeaders,
  prepareMessage,
  silentLogger,
} from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { removeDir, sendBody, tempDir } from '../testing/fixtures';
import { TopicConfigManager } from '../topic-config-manager';
import { createBrokerServer } from './broker-server';
import { MAX_SEND_BODY_BYTES } from './send-message-processor';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let dir: string;
let store: DefaultMessageStore;
let server: http.Server;
let port: number;
let nameServer: FakeNameServer;
let accepting: boolean;
let logged: string[];

beforeEach(async () => {
  dir = tempDir();
  store = new DefaultMessageStore({ storeDir: dir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 100 }, silentLogger).load();
  nameServer = new FakeNameServer();
  nameServer.addTopic('TopicA', 4);
  nameServer.addTopic('ReadFewer', 4, 'broker-a', 2);
  nameServer.addTopic('Elsewhere', 4, 'broker-b');
  accepting = true;
  logged = [];
  server = createBrokerServer({
    brokerName: 'broker-a',
    store,
    topicConfigManager: new TopicConfigManager('broker-a', nameServer),
    logger: createLogger({}, 'error', (l) => logged.push(l)),
    acceptingWrites: () => accepting,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.shutdown();
  removeDir(dir);
});

function request(method: string, path: string, body?: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const send = (body: Buffer, contentType: string = ContentTypes.SEND_BATCH) => request('POST', '/v1/send', body, { 'content-type': contentType });
const json = (r: Res) => JSON.parse(r.body.toString()) as Record<string, unknown>;
const errorCode = (r: Res) => (json(r).error as { code: string }).code;

async function expectUnchangedAndServing(): Promise<void> {
  expect(store.stats().putMessagesTotal).toBe(0);
  expect(store.stats().commitLogMaxOffset).toBe(0);
  const health = await request('GET', '/healthz');
  expect(health.status).toBe(200);
}

describe('broker HTTP server', () => {
  it('sends a batch and reads it back over HTTP', async () => {
    const r = await send(sendBody('TopicA', 2, [{ body: 'hello', tags: 'TagA', keys: ['k1'] }, 'world']));
    expect(r.status).toBe(200);
    const answer = json(r) as unknown as BrokerSendResponse;
    expect(answer).toEqual({ status: 'SEND_OK', brokerName: 'broker-a', queueId: 2, queueOffset: 0, count: 2, commitLogOffset: 0 });
    const r2 = await send(sendBody('TopicA', 2, ['third']));
    expect((json(r2) as unknown as BrokerSendResponse).queueOffset).toBe(2);

    const read = await request('GET', '/v1/messages?topic=TopicA&queueId=2&offset=0');
    expect(read.status).toBe(200);
    expect(read.headers['content-type']).toBe(ContentTypes.RECORDS);
    expect(read.headers[PullHeaders.NEXT_OFFSET]).toBe('3');
    expect(read.headers[PullHeaders.MIN_OFFSET]).toBe('0');
    expect(read.headers[PullHeaders.MAX_OFFSET]).toBe('3');
    expect(read.headers[PullHeaders.COUNT]).toBe('3');
    const msgs = decodeRecords(read.body);
    expect(msgs.map((m) => m.body.toString())).toEqual(['hello', 'world', 'third']);
    expect(msgs[0]).toMatchObject({ topic: 'TopicA', queueId: 2, queueOffset: 0, tags: 'TagA', keys: ['k1'] });

    const page = await request('GET', '/v1/messages?topic=TopicA&queueId=2&offset=1&max=1');
    expect(page.headers[PullHeaders.COUNT]).toBe('1');
    expect(page.headers[PullHeaders.NEXT_OFFSET]).toBe('2');

    const past = await request('GET', '/v1/messages?topic=TopicA&queueId=2&offset=50');
    expect(past.status).toBe(200);
    expect(past.body.length).toBe(0);
    expect(past.headers[PullHeaders.NEXT_OFFSET]).toBe('3');
    expect(past.headers[PullHeaders.COUNT]).toBe('0');

    const empty = await request('GET', '/v1/messages?topic=TopicA&queueId=3&offset=0');
    expect(empty.headers[PullHeaders.MAX_OFFSET]).toBe('0');
  });

  it('answers health and metrics', async () => {
    expect(json(await request('GET', '/healthz'))).toEqual({ status: 'ok', brokerName: 'broker-a', pid: process.pid });
    await send(sendBody('TopicA', 0, ['a', 'b']));
    const m = await request('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    const text = m.body.toString();
    expect(text).toContain('cirrusmq_broker_put_messages_total{broker="broker-a"} 2');
    expect(text).toMatch(/cirrusmq_broker_put_bytes_total\{broker="broker-a"\} \d+/);
    expect(text).toContain(`cirrusmq_commitlog_max_offset{broker="broker-a"} ${store.stats().commitLogMaxOffset}`);
    expect(text).toContain('cirrusmq_commitlog_min_offset{broker="broker-a"} 0');
  });

  it('takes a durability the broker can give per send, and refuses one it cannot with 400', async () => {
    const post = (q: string) => request('POST', `/v1/send?durability=${q}`, sendBody('TopicA', 0, ['a']), { 'content-type': ContentTypes.SEND_BATCH });
    expect((await post('async')).status).toBe(200); // this broker's own level
    for (const level of ['s3', 'sync', 'always']) {
      const r = await post(level);
      expect(r.status).toBe(400);
      expect(errorCode(r)).toBe('INVALID_PARAMETER');
    }
    expect(store.stats().putMessagesTotal).toBe(1);
    expect((await send(sendBody('TopicA', 0, ['b']))).status).toBe(200);
  });

  it('refuses a wrong content type with 415', async () => {
    const r = await send(sendBody('TopicA', 0, ['a']), 'application/json');
    expect(r.status).toBe(415);
    expect(errorCode(r)).toBe('UNSUPPORTED_MEDIA_TYPE');
    await expectUnchangedAndServing();
  });

  it('refuses a batch in the timer form when it keeps no timers, storing nothing', async () => {
    const later = [prepareMessage({ topic: 'TopicA', body: 'a', delaySeconds: 60 })];
    const r = await send(encodeTimerBatch('TopicA', 0, later, Date.now())!);
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('INVALID_MESSAGE');
    await expectUnchangedAndServing();
  });

  it('refuses a garbage body with 400', async () => {
    const r = await send(Buffer.from('this is not a send batch at all'));
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('BAD_REQUEST');
    const truncated = sendBody('TopicA', 0, ['abc', 'def']);
    const r2 = await send(truncated.subarray(0, truncated.length - 3));
    expect(r2.status).toBe(400);
    await expectUnchangedAndServing();
  });

  it('refuses a body over the limit with 413 without reading it', async () => {
    const r = await new Promise<Res>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/send',
          headers: { 'content-type': ContentTypes.SEND_BATCH, 'content-length': MAX_SEND_BODY_BYTES + 1 },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(1024)); // the rest never comes: the answer must not wait for it
    });
    expect(r.status).toBe(413);
    expect(errorCode(r)).toBe('PAYLOAD_TOO_LARGE');
    expect(MAX_SEND_BODY_BYTES).toBeGreaterThan(Limits.MAX_BATCH_BYTES + 1000 * 128);

    // Chunked (no content-length): refused once the bytes received pass the limit.
    const chunked = await new Promise<Res>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/send', headers: { 'content-type': ContentTypes.SEND_BATCH } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', () => {}); // the server may close while we still write
      const chunk = Buffer.alloc(256 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_SEND_BODY_BYTES + chunk.length && !req.destroyed) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
      };
      pump();
      setTimeout(() => reject(new Error('no answer')), 10_000).unref();
    });
    expect(chunked.status).toBe(413);
    await expectUnchangedAndServing();
  });

  it('answers 404 for an unknown topic, or one not on this broker, asking the NameServer once a second', async () => {
    const r = await send(sendBody('NoSuchTopic', 0, ['a']));
    expect(r.status).toBe(404);
    expect(errorCode(r)).toBe('TOPIC_NOT_FOUND');
    const again = await send(sendBody('NoSuchTopic', 0, ['a']));
    expect(again.status).toBe(404);
    expect(nameServer.getTopicCalls).toBe(1); // the miss is cached
    const other = await send(sendBody('Elsewhere', 0, ['a']));
    expect(errorCode(other)).toBe('TOPIC_NOT_FOUND');
    const read = await request('GET', '/v1/messages?topic=NoSuchTopic&queueId=0&offset=0');
    expect(read.status).toBe(404);
    await expectUnchangedAndServing();
  });

  it('checks queueId against writeQueueNums for sends and readQueueNums for reads', async () => {
    const r = await send(sendBody('TopicA', 4, ['a']));
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('INVALID_QUEUE');
    const neg = await send(sendBody('TopicA', -1, ['a']));
    expect(errorCode(neg)).toBe('INVALID_QUEUE');
    const read = await request('GET', '/v1/messages?topic=ReadFewer&queueId=2&offset=0');
    expect(read.status).toBe(404);
    expect(errorCode(read)).toBe('QUEUE_NOT_FOUND');
    await expectUnchangedAndServing();
  });

  it('refuses bad read parameters with 400', async () => {
    for (const q of [
      'topic=TopicA&queueId=0&offset=-1',
      'topic=TopicA&queueId=0&offset=abc',
      'topic=TopicA&queueId=0',
      'topic=TopicA&queueId=x&offset=0',
      'topic=TopicA&queueId=0&offset=0&max=-5',
      'topic=TopicA&queueId=0&offset=0&max=0',
      'topic=bad%20topic&queueId=0&offset=0',
      'queueId=0&offset=0',
    ]) {
      const r = await request('GET', `/v1/messages?${q}`);
      expect(r.status, q).toBe(400);
    }
    await expectUnchangedAndServing();
  });

  it('caps a read at MAX_READ_BATCH messages: the next ones in order, with their bodies', async () => {
    const total = Limits.MAX_READ_BATCH + 200;
    const bodies = Array.from({ length: total }, (_, i) => `m${i}`);
    for (let i = 0; i < total; i += Limits.MAX_BATCH_MESSAGES) {
      const r = await send(sendBody('TopicA', 1, bodies.slice(i, i + Limits.MAX_BATCH_MESSAGES)));
      expect((json(r) as unknown as BrokerSendResponse).status).toBe('SEND_OK');
    }
    const from = 100;
    const capped = await request('GET', `/v1/messages?topic=TopicA&queueId=1&offset=${from}&max=${Limits.MAX_READ_BATCH * 10}`);
    expect(capped.status).toBe(200);
    const msgs = decodeRecords(capped.body);
    expect(msgs.map((m) => m.body.toString())).toEqual(bodies.slice(from, from + Limits.MAX_READ_BATCH));
    expect(msgs.map((m) => m.queueOffset)).toEqual(Array.from({ length: Limits.MAX_READ_BATCH }, (_, i) => from + i));
    expect(msgs.every((m) => m.topic === 'TopicA' && m.queueId === 1)).toBe(true);
    expect(capped.headers[PullHeaders.COUNT]).toBe(String(Limits.MAX_READ_BATCH));
    expect(capped.headers[PullHeaders.NEXT_OFFSET]).toBe(String(from + Limits.MAX_READ_BATCH));
    expect(capped.headers[PullHeaders.MAX_OFFSET]).toBe(String(total));
    // The rest follows from nextOffset.
    const rest = await request('GET', `/v1/messages?topic=TopicA&queueId=1&offset=${from + Limits.MAX_READ_BATCH}&max=${Limits.MAX_READ_BATCH}`);
    expect(decodeRecords(rest.body).map((m) => m.body.toString())).toEqual(bodies.slice(from + Limits.MAX_READ_BATCH));
  });

  it('answers 404 NOT_FOUND for unknown routes and 405 for a wrong method', async () => {
    const r = await request('GET', '/v1/nope');
    expect(r.status).toBe(404);
    expect(errorCode(r)).toBe('NOT_FOUND');
    const m = await request('GET', '/v1/send');
    expect(m.status).toBe(405);
    await expectUnchangedAndServing();
  });

  it('answers 503 to sends while shutting down, and 500 INTERNAL on an unexpected failure', async () => {
    accepting = false;
    const r = await send(sendBody('TopicA', 0, ['a']));
    expect(r.status).toBe(503);
    expect(errorCode(r)).toBe('SERVICE_NOT_AVAILABLE');
    accepting = true;

    const original = store.putMessages.bind(store);
    store.putMessages = () => {
      throw new Error('disk on fire');
    };
    const boom = await send(sendBody('TopicA', 0, ['a']));
    expect(boom.status).toBe(500);
    expect(json(boom)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(logged.some((l) => l.includes('disk on fire'))).toBe(true);
    store.putMessages = original;
    expect((await send(sendBody('TopicA', 0, ['a']))).status).toBe(200);
  });
});
