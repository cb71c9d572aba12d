/**
 * The gateway process answers send, receive, ack and change-invisibility with its own node:http
 * listener (functions/gateway/src/hot-routes.ts) and everything else through Hono. The same
 * requests, good and bad, sent to that process over HTTP and to the Hono app in this process
 * (app.request, the path the Lambda handler takes) must answer the same status, content type
 * and bytes; only what differs between two sends by nature (message ids, offsets, queues,
 * receipt handles, timestamps) is blanked before comparing. The process's metrics count what
 * its hot routes served, and a client that leaves mid-body does not hurt the next request.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePopParts, POP_PARTS_TYPE } from '@cirrusmq/client/protocol';
import { createGatewayApp } from '../../functions/gateway/src/app';
import { loadGatewayConfig } from '../../functions/gateway/src/config';
import { createGatewayDeps } from '../../functions/gateway/src/create-deps';
import type { GatewayDeps } from '../../functions/gateway/src/deps';
import { MAX_SEND_REQUEST_BYTES } from '../../functions/gateway/src/limits';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue, startTestCluster, stopTestCluster } from '../support/cluster';
import { sample } from '../support/prometheus-text';

interface Req {
  method?: string;
  path: string;
  /** Name, value pairs, in order (a name may repeat). Default: content-type application/json. */
  headers?: [string, string][];
  body?: string | Buffer | object;
  /** Sent with transfer-encoding: chunked (no content-length) to the process. */
  chunked?: boolean;
}

interface Answer {
  status: number;
  type: string | null;
  body: Buffer;
}

const JSON_TYPE: [string, string][] = [['content-type', 'application/json']];
const bodyBytes = (b: Req['body']) =>
  b === undefined ? undefined : typeof b === 'string' || Buffer.isBuffer(b) ? Buffer.from(b) : Buffer.from(JSON.stringify(b));

/** Keep-alive: a client asking to close gets its connection closed after a 413 while it still sends the body (EPIPE). */
const agent = new http.Agent({ keepAlive: true });

function toProcess(base: string, r: Req): Promise<Answer> {
  const url = new URL(base);
  const body = bodyBytes(r.body);
  // Given as a list (to repeat a name), node adds no host header of its own.
  const headers = ['host', url.host, ...(r.headers ?? JSON_TYPE).flat()];
  if (body && !r.chunked) headers.push('content-length', String(body.length));
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: url.hostname, port: url.port, method: r.method ?? 'POST', path: r.path, headers, agent }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] ?? null, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // A 413 may come before the whole body went out; the client then stops sending (EPIPE).
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (body && r.chunked) {
      // Several chunks, as a streaming client sends them.
      for (let at = 0; at < body.length; at += 1 << 20) req.write(body.subarray(at, at + (1 << 20)));
    }
    req.end(r.chunked ? undefined : body);
  });
}

async function toApp(app: ReturnType<typeof createGatewayApp>, r: Req): Promise<Answer> {
  const headers = new Headers();
  for (const [k, v] of r.headers ?? JSON_TYPE) headers.append(k, v);
  const res = await app.request(r.path, { method: r.method ?? 'POST', headers, body: bodyBytes(r.body) });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

/** What two equal requests answer differently by nature, blanked. */
const VARYING = /"(messageId|receiptHandle|broker|queueId|queueOffset|bornTimestamp|storeTimestamp|transactionId|deliveryAttempt)":("[^"]*"|\d+)/g;
const blank = (a: Answer) => ({ status: a.status, type: a.type, body: a.body.toString('utf8').replace(VARYING, '"$1":"_"') });

let cluster: LocalCluster;
let deps: GatewayDeps;
let app: ReturnType<typeof createGatewayApp>;

beforeAll(async () => {
  cluster = await startTestCluster();
  const c = cluster.config;
  for (const topic of ['hot', 'quiet', 'leases', 'texts']) expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: 2 })).status).toBe(201);
  deps = createGatewayDeps(loadGatewayConfig({ CIRRUSMQ_NAMESRV_ADDR: `${c.host}:${c.nameServerPort}`, CIRRUSMQ_LOG_LEVEL: 'error' }));
  app = createGatewayApp(deps);
}, 120_000);

afterAll(async () => {
  agent.destroy();
  deps?.producer.shutdown();
  deps?.brokers.close();
  await stopTestCluster(cluster);
});

const msgs = (n: number) => ({ messages: Array.from({ length: n }, (_, i) => ({ body: `m${i}`, tags: 'T', keys: [`k${i}`], properties: { p: 'v' } })) });
const G = '/v1/topics/quiet/groups/g1';

/** Requests whose answers hold nothing that varies: compared byte for byte. */
const EXACT: [string, Req][] = [
  ['oneway send', { path: '/v1/topics/hot/messages?mode=oneway', body: msgs(2) }],
  ['oneway send, another query parameter first', { path: '/v1/topics/hot/messages?x=1&mode=oneway', body: msgs(1) }],
  ['bad mode', { path: '/v1/topics/hot/messages?mode=fast', body: msgs(1) }],
  ['empty mode', { path: '/v1/topics/hot/messages?mode', body: msgs(1) }],
  ['text/plain', { path: '/v1/topics/hot/messages', headers: [['content-type', 'text/plain']], body: msgs(1) }],
  ['no content type', { path: '/v1/topics/hot/messages', headers: [], body: msgs(1) }],
  [
    'two content types',
    {
      path: '/v1/topics/hot/messages',
      headers: [
        ['content-type', 'application/json'],
        ['content-type', 'text/plain'],
      ],
      body: msgs(1),
    },
  ],
  ['a +json type', { path: '/v1/topics/hot/messages?mode=oneway', headers: [['content-type', 'application/vnd.x+json; charset=utf-8']], body: msgs(1) }],
  ['bad JSON', { path: '/v1/topics/hot/messages', body: '{"messages": [' }],
  ['not UTF-8', { path: '/v1/topics/hot/messages', body: Buffer.from([0x7b, 0xff, 0x7d]) }],
  ['an array', { path: '/v1/topics/hot/messages', body: [] }],
  ['messages not an array', { path: '/v1/topics/hot/messages', body: { messages: 'x' } }],
  ['no body field', { path: '/v1/topics/hot/messages', body: { messages: [{}] } }],
  ['empty batch', { path: '/v1/topics/hot/messages', body: { messages: [] } }],
  ['too many', { path: '/v1/topics/hot/messages', body: msgs(1025) }],
  ['bad base64', { path: '/v1/topics/hot/messages', body: { messages: [{ body: '@@', bodyEncoding: 'base64' }] } }],
  ['bad topic name', { path: '/v1/topics/bad!topic/messages', body: msgs(1) }],
  ['reserved topic', { path: '/v1/topics/rmq_sys_x/messages', body: msgs(1) }],
  ['encoded reserved topic (Hono decodes)', { path: '/v1/topics/%25RETRY%25g/messages', body: msgs(1) }],
  ['unknown topic', { path: '/v1/topics/nope/messages', body: msgs(1) }],
  ['unknown topic, oneway', { path: '/v1/topics/nope/messages?mode=oneway', body: msgs(1) }],
  ['declared too large', { path: '/v1/topics/hot/messages', body: Buffer.alloc(MAX_SEND_REQUEST_BYTES + 1, 0x20) }],
  ['too large, chunked', { path: '/v1/topics/hot/messages', body: Buffer.alloc(MAX_SEND_REQUEST_BYTES + 1, 0x20), chunked: true }],
  ['trailing slash', { path: '/v1/topics/hot/messages/', body: msgs(1) }],
  ['GET without broker', { method: 'GET', path: '/v1/topics/hot/messages', headers: [] }],
  ['PUT', { method: 'PUT', path: '/v1/topics/hot/messages', body: msgs(1) }],
  ['receive, empty', { path: `${G}/receive`, body: { max: 4, waitSeconds: 0 } }],
  ['receive, defaults, a query', { path: `${G}/receive?waitSeconds=5`, body: { waitSeconds: 0 } }],
  ['receive, filter', { path: `${G}/receive`, body: { waitSeconds: 0, filter: 'A || B' } }],
  ['receive, max 0', { path: `${G}/receive`, body: { max: 0 } }],
  ['receive, max 33', { path: `${G}/receive`, body: { max: 33 } }],
  ['receive, max 1.5', { path: `${G}/receive`, body: { max: 1.5 } }],
  ['receive, invisibleSeconds 0', { path: `${G}/receive`, body: { invisibleSeconds: 0 } }],
  ['receive, waitSeconds 21', { path: `${G}/receive`, body: { waitSeconds: 21 } }],
  ['receive, bad filter', { path: `${G}/receive`, body: { filter: 5 } }],
  ['receive, bad group', { path: '/v1/topics/quiet/groups/bad!g/receive', body: {} }],
  ['receive, encoded group (Hono decodes)', { path: '/v1/topics/quiet/groups/g%31/receive', body: { waitSeconds: 0 } }],
  ['receive, unknown topic', { path: '/v1/topics/nope/groups/g1/receive', body: { waitSeconds: 0 } }],
  ['receive, bad JSON', { path: `${G}/receive`, body: '[' }],
  ['receive, text/plain', { path: `${G}/receive`, headers: [['content-type', 'text/plain']], body: {} }],
  ['receive, GET', { method: 'GET', path: `${G}/receive`, headers: [] }],
  ['receive, empty, as POP_PARTS', { path: `${G}/receive`, headers: [...JSON_TYPE, ['accept', POP_PARTS_TYPE]], body: { max: 4, waitSeconds: 0 } }],
  [
    'receive, empty, POP_PARTS among two accept headers',
    {
      path: `${G}/receive`,
      headers: [...JSON_TYPE, ['accept', 'application/json'], ['accept', `${POP_PARTS_TYPE};q=0.9`]],
      body: { waitSeconds: 0 },
    },
  ],
  ['receive, POP_PARTS with q=0 (JSON)', { path: `${G}/receive`, headers: [...JSON_TYPE, ['accept', `${POP_PARTS_TYPE};q=0`]], body: { waitSeconds: 0 } }],
  ['receive, bad JSON, accepting POP_PARTS (the error is JSON)', { path: `${G}/receive`, headers: [...JSON_TYPE, ['accept', POP_PARTS_TYPE]], body: '[' }],
  ['ack, forged handles', { path: `${G}/ack`, body: { receiptHandles: ['x', 'v1.abc.def'] } }],
  ['ack, none', { path: `${G}/ack`, body: { receiptHandles: [] } }],
  ['ack, not a list', { path: `${G}/ack`, body: { receiptHandles: 'x' } }],
  ['ack, 101 handles', { path: `${G}/ack`, body: { receiptHandles: Array.from({ length: 101 }, () => 'x') } }],
  ['ack, a long handle', { path: `${G}/ack`, body: { receiptHandles: ['x'.repeat(1025)] } }],
  ['ack, unknown topic', { path: '/v1/topics/nope/groups/g1/ack', body: { receiptHandles: ['x'] } }],
  ['change-invisibility, forged', { path: `${G}/change-invisibility`, body: { entries: [{ receiptHandle: 'x', invisibleSeconds: 5 }] } }],
  ['change-invisibility, bad seconds', { path: `${G}/change-invisibility`, body: { entries: [{ receiptHandle: 'x', invisibleSeconds: -1 }] } }],
  [
    'change-invisibility, a release (0) of a forged handle',
    { path: `${G}/change-invisibility`, body: { entries: [{ receiptHandle: 'x', invisibleSeconds: 0 }] } },
  ],
  ['unknown hot-looking route', { path: `${G}/nack`, body: {} }],
];

describe('the gateway process and its Hono app answer alike', () => {
  it.each(EXACT)('%s', async (_name, r) => {
    const [viaProcess, viaApp] = [await toProcess(cluster.gatewayUrl, r), await toApp(app, r)];
    expect({ ...viaProcess, body: viaProcess.body.toString('utf8') }).toEqual({ ...viaApp, body: viaApp.body.toString('utf8') });
    expect(viaProcess.body.equals(viaApp.body)).toBe(true);
  });

  it('sync sends: the same results but for ids, offsets and queues (encoded topic names too)', async () => {
    for (const path of ['/v1/topics/hot/messages', '/v1/topics/hot/messages?mode=sync', '/v1/topics/h%6Ft/messages']) {
      const r: Req = { path, body: msgs(5) };
      const [viaProcess, viaApp] = [await toProcess(cluster.gatewayUrl, r), await toApp(app, r)];
      expect(viaProcess.status).toBe(200);
      expect(blank(viaProcess)).toEqual(blank(viaApp));
      expect(JSON.parse(viaProcess.body.toString()).results.map((x: { status: string }) => x.status)).toEqual(Array(5).fill('SEND_OK'));
    }
  });

  it('receive and ack real leases: the same answers but for ids, handles and offsets', async () => {
    const base = '/v1/topics/leases/groups/readers';
    expect((await api(cluster.gatewayUrl, 'PUT', '/v1/groups/readers', { consumeFrom: 'earliest' })).status).toBe(201);
    const unicode = { messages: ['é', '雪 ☃', '😀 "q" \\ \n'].map((body) => ({ body })) };
    const sent = await toProcess(cluster.gatewayUrl, { path: '/v1/topics/leases/messages', body: msgs(8) });
    expect(sent.status).toBe(200);
    expect((await toProcess(cluster.gatewayUrl, { path: '/v1/topics/texts/messages', body: unicode })).status).toBe(200);
    const receive = (via: (r: Req) => Promise<Answer>) => via({ path: `${base}/receive`, body: { max: 4, waitSeconds: 1, invisibleSeconds: 60 } });
    const byProcess = (r: Req) => toProcess(cluster.gatewayUrl, r);
    const byApp = (r: Req) => toApp(app, r);
    const got: Record<string, Answer> = {};
    const leased = (a: Answer) => JSON.parse(a.body.toString()).messages.length > 0;
    await waitFor('a lease through the process', 30_000, async () => leased((got.process = await receive(byProcess))));
    await waitFor('a lease through the app', 30_000, async () => leased((got.app = await receive(byApp))));
    // Bodies and keys are the message's index: blanked too.
    const shape = (a: Answer) => JSON.parse(blank(a).body).messages.map((m: object) => ({ ...m, body: 'm', keys: ['k'] }));
    // Text stored as sent, whether the request was ASCII or not (the two ways it is decoded).
    const stored: string[] = [];
    for (const broker of cluster.config.brokers.map((b) => b.brokerName))
      for (const queueId of [0, 1]) stored.push(...(await readWholeQueue(cluster.gatewayUrl, 'texts', broker, queueId)).map((m) => m.body));
    expect(stored.sort()).toEqual(unicode.messages.map((m) => m.body).sort());
    const leasedBodies = (a: Answer) => JSON.parse(a.body.toString()).messages.map((m: { body: string }) => m.body);
    for (const b of [...leasedBodies(got.process!), ...leasedBodies(got.app!)]) expect(msgs(8).messages.map((m) => m.body)).toContain(b);
    expect(got.process!.status).toBe(200);
    expect(got.process!.type).toBe('application/json');
    expect(shape(got.process!)[0]).toEqual(shape(got.app!)[0]);
    // Acks: each side acks its own leases; both answer OK for each.
    const handlesOf = (a: Answer) => JSON.parse(a.body.toString()).messages.map((m: { receiptHandle: string }) => m.receiptHandle);
    const ackP = await byProcess({ path: `${base}/ack`, body: { receiptHandles: handlesOf(got.process!) } });
    const ackA = await byApp({ path: `${base}/ack`, body: { receiptHandles: handlesOf(got.app!) } });
    expect(ackP.status).toBe(200);
    expect(JSON.parse(ackP.body.toString()).results.every((x: { status: string }) => x.status === 'OK')).toBe(true);
    expect(JSON.parse(ackA.body.toString()).results.every((x: { status: string }) => x.status === 'OK')).toBe(true);
    // The same handle acked again through each: the same refusal.
    const again = { path: `${base}/ack`, body: { receiptHandles: [handlesOf(got.process!)[0]] } };
    expect(blank(await byProcess(again))).toEqual(blank(await byApp(again)));
  }, 60_000);
});

describe('the receive answer as POP_PARTS (Accept)', () => {
  it('the process and the app answer the same type and the same messages (but for leases), and its leases ack', async () => {
    const base = '/v1/topics/leases/groups/binary-readers';
    expect((await api(cluster.gatewayUrl, 'PUT', '/v1/groups/binary-readers', { consumeFrom: 'earliest' })).status).toBe(201);
    expect((await toProcess(cluster.gatewayUrl, { path: '/v1/topics/leases/messages', body: msgs(8) })).status).toBe(200);
    const receive = (via: (r: Req) => Promise<Answer>) =>
      via({ path: `${base}/receive`, headers: [...JSON_TYPE, ['accept', POP_PARTS_TYPE]], body: { max: 4, waitSeconds: 1, invisibleSeconds: 60 } });
    const got: Record<string, Answer> = {};
    await waitFor('a lease through the process', 30_000, async () => (got.process = await receive((r) => toProcess(cluster.gatewayUrl, r))).body.length > 0);
    await waitFor('a lease through the app', 30_000, async () => (got.app = await receive((r) => toApp(app, r))).body.length > 0);
    for (const a of [got.process!, got.app!]) {
      expect(a.status).toBe(200);
      expect(a.type).toBe(POP_PARTS_TYPE);
    }
    const [p, a] = [decodePopParts(got.process!.body), decodePopParts(got.app!.body)];
    const bodies = msgs(8).messages.map((m) => m.body);
    for (const m of [...p, ...a]) {
      expect(bodies).toContain(m.body.toString());
      expect(m).toMatchObject({ topic: 'leases', tags: 'T', deliveryAttempt: 1 });
      expect(m.properties.p).toBe('v');
    }
    // Leases are not shared: the two reads got different messages.
    expect(new Set([...p, ...a].map((m) => m.messageId)).size).toBe(p.length + a.length);
    const ack = await toProcess(cluster.gatewayUrl, { path: `${base}/ack`, body: { receiptHandles: [...p, ...a].map((m) => m.receiptHandle) } });
    expect(JSON.parse(ack.body.toString()).results.map((x: { status: string }) => x.status)).toEqual(Array(p.length + a.length).fill('OK'));
  }, 60_000);
});

describe('the hot routes in the process', () => {
  it("count in the gateway's metrics: send histogram by mode and status, receive and ack counters", async () => {
    const metrics = async () => (await fetch(`${cluster.gatewayUrl}/metrics`)).text();
    const count = (text: string, name: string, labels: Record<string, string>) => sample(text, name, labels) ?? 0;
    const before = await metrics();
    await toProcess(cluster.gatewayUrl, { path: '/v1/topics/hot/messages', body: msgs(3) });
    await toProcess(cluster.gatewayUrl, { path: '/v1/topics/hot/messages?mode=x', body: msgs(1) });
    await toProcess(cluster.gatewayUrl, { path: '/v1/topics/nope/messages?mode=oneway', body: msgs(1) });
    await toProcess(cluster.gatewayUrl, { path: `${G}/receive`, body: { waitSeconds: 0 } });
    await toProcess(cluster.gatewayUrl, { path: `${G}/ack`, body: { receiptHandles: ['x'] } });
    const after = await metrics();
    const diff = (name: string, labels: Record<string, string> = {}) => count(after, name, labels) - count(before, name, labels);
    expect(diff('cirrusmq_gateway_send_duration_seconds_count', { mode: 'sync', status: '200' })).toBe(1);
    expect(diff('cirrusmq_gateway_send_duration_seconds_count', { mode: 'invalid', status: '400' })).toBe(1);
    expect(diff('cirrusmq_gateway_send_duration_seconds_count', { mode: 'oneway', status: '404' })).toBe(1);
    expect(diff('cirrusmq_gateway_messages_sent_total')).toBe(3);
    expect(diff('cirrusmq_gateway_receive_duration_seconds_count', { outcome: 'empty' })).toBe(1);
    expect(diff('cirrusmq_gateway_receive_requests_total')).toBe(1);
    expect(diff('cirrusmq_gateway_ack_requests_total')).toBe(1);
    expect(diff('cirrusmq_gateway_acks_failed_total')).toBe(1);
  });

  it('a client that leaves mid-body or mid-poll does not stop the gateway serving the next requests', async () => {
    const { pid } = (await api(cluster.gatewayUrl, 'GET', '/healthz')).body;
    const url = new URL(cluster.gatewayUrl);
    const leave = (head: string, body: string) =>
      new Promise<void>((resolve) => {
        const socket = net.connect(Number(url.port), url.hostname, () => {
          socket.write(`${head}\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length + 1000}\r\n\r\n${body}`);
          setImmediate(() => {
            socket.destroy();
            resolve();
          });
        });
      });
    await leave('POST /v1/topics/hot/messages HTTP/1.1', '{"messages":[{"body":"x"');
    await leave(`POST ${G}/receive HTTP/1.1`, '{"waitSeconds":');
    // A long poll whose client went away.
    const poll = net.connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => poll.once('connect', () => resolve()));
    const b = '{"waitSeconds":1}';
    poll.write(`POST ${G}/receive HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${b.length}\r\n\r\n${b}`);
    poll.destroy();
    const ok = await toProcess(cluster.gatewayUrl, { path: '/v1/topics/hot/messages', body: msgs(2) });
    expect(ok.status).toBe(200);
    const empty = await toProcess(cluster.gatewayUrl, { path: `${G}/receive`, body: { waitSeconds: 2 } });
    expect(empty.status).toBe(200);
    expect((await api(cluster.gatewayUrl, 'GET', '/healthz')).body.pid).toBe(pid);
  });
});
