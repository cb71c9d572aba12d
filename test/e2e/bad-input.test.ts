/**
 * Bad input through the gateway, against a real cluster: each gets a 4xx JSON error with a
 * code, nothing stored changes, and the service keeps serving. Text that is not valid
 * Unicode is refused (never stored as U+FFFD), a oneway send to an unknown topic is refused
 * before its 202, bodies up to 4 MiB go as base64 and reads stay under a Lambda result's
 * 6 MB; the CLI reports failures. A topic whose brokers are all gone answers 503 with a
 * retriable code at once.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { MAX_SEND_REQUEST_BYTES } from '../../functions/gateway/src/limits';
import { runCli } from '../support/cli';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
let gw: string;
const SEND_TIMEOUT_MS = 60_000;
beforeAll(async () => {
  // A send timeout far above any answer time on a busy machine: "503 at once" (below) then
  // means "without waiting for the timeout", not "fast enough today".
  // 16 MiB segments: a 4 MiB message must fit one.
  cluster = await startTestCluster({ env: { CIRRUSMQ_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS), CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(16 * 1024 * 1024) } });
  gw = cluster.gatewayUrl;
  expect((await api(gw, 'POST', '/v1/topics', { topic: 'orders', queues: 2 })).status).toBe(201);
  const seed = await api(gw, 'POST', '/v1/topics/orders/messages', { messages: [{ body: 'seed' }] });
  expect(seed.body.results[0].status).toBe('SEND_OK');
});
afterAll(async () => {
  await stopTestCluster(cluster);
});

async function storedState(): Promise<string> {
  const parts: string[] = [];
  for (const broker of ['broker-a', 'broker-b']) {
    for (const queueId of [0, 1]) {
      const res = await api(gw, 'GET', `/v1/topics/orders/messages?broker=${broker}&queueId=${queueId}&offset=0&max=1024`);
      parts.push(`${broker}/${queueId}:${res.body.maxOffset}:${res.body.messages.map((m: { messageId: string }) => m.messageId).join(',')}`);
    }
  }
  return parts.join('|');
}

const send = '/v1/topics/orders/messages';

/**
 * POSTs with node:http and takes the answer even if the server answers before reading the
 * whole body and then closes the connection (as it does for 413); fetch reports that as a
 * socket error instead.
 */
function postEarlyAnswer(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      answered = true;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', (e) => {
      if (!answered) reject(e); // after the answer arrived, a reset is expected
    });
    req.end(body);
  });
}
/** Runs the cirrusmq CLI against the test gateway. */
const cli = (args: string[]) => runCli(gw, args);

const cases: [string, string, string, unknown, Record<string, string> | undefined, number, string][] = [
  ['malformed JSON', 'POST', send, '{"messages": [', undefined, 400, 'INVALID_JSON'],
  ['JSON that is not an object', 'POST', send, '[1,2]', undefined, 400, 'BAD_REQUEST'],
  ['wrong content type', 'POST', send, 'hello', { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ['no messages field', 'POST', send, { msgs: [] }, undefined, 400, 'INVALID_MESSAGE'],
  ['an empty batch', 'POST', send, { messages: [] }, undefined, 400, 'EMPTY_BATCH'],
  ['too many messages', 'POST', send, { messages: Array.from({ length: 1001 }, () => ({ body: 'x' })) }, undefined, 400, 'TOO_MANY_MESSAGES'],
  ['a message without a body', 'POST', send, { messages: [{ body: 'ok' }, { tags: 'A' }] }, undefined, 400, 'INVALID_MESSAGE'],
  ['an empty body', 'POST', send, { messages: [{ body: '' }] }, undefined, 400, 'INVALID_MESSAGE'],
  ['bad base64', 'POST', send, { messages: [{ body: '@@@', bodyEncoding: 'base64' }] }, undefined, 400, 'INVALID_MESSAGE'],
  ['an unknown body encoding', 'POST', send, { messages: [{ body: 'a', bodyEncoding: 'hex' }] }, undefined, 400, 'INVALID_MESSAGE'],
  ['a reserved property', 'POST', send, { messages: [{ body: 'a', properties: { TAGS: 'x' } }] }, undefined, 400, 'INVALID_MESSAGE'],
  ['a bad send mode', 'POST', `${send}?mode=fast`, { messages: [{ body: 'a' }] }, undefined, 400, 'INVALID_PARAMETER'],
  ['a topic with bad characters', 'POST', '/v1/topics', { topic: 'bad topic!', queues: 2 }, undefined, 400, 'INVALID_TOPIC'],
  ['a 128-character topic', 'POST', '/v1/topics', { topic: 't'.repeat(128), queues: 2 }, undefined, 400, 'INVALID_TOPIC'],
  ['a reserved prefix', 'POST', '/v1/topics', { topic: '%RETRY%orders', queues: 2 }, undefined, 400, 'RESERVED_TOPIC'],
  ['a send to a reserved topic', 'POST', '/v1/topics/rmq_sys_x/messages', { messages: [{ body: 'a' }] }, undefined, 400, 'RESERVED_TOPIC'],
  ['zero queues', 'POST', '/v1/topics', { topic: 'fine', queues: 0 }, undefined, 400, 'INVALID_PARAMETER'],
  ['a send to an unknown topic', 'POST', '/v1/topics/nope/messages', { messages: [{ body: 'a' }] }, undefined, 404, 'TOPIC_NOT_FOUND'],
  ['a oneway send to an unknown topic', 'POST', '/v1/topics/nope/messages?mode=oneway', { messages: [{ body: 'a' }] }, undefined, 404, 'TOPIC_NOT_FOUND'],
  // JSON escapes that decode to a lone surrogate: UTF-8 has no bytes for it (it would be stored as U+FFFD).
  ['a body with a lone surrogate', 'POST', send, '{"messages":[{"body":"\\ud800x"}]}', undefined, 400, 'INVALID_TEXT'],
  ['a oneway body with a lone surrogate', 'POST', `${send}?mode=oneway`, '{"messages":[{"body":"x\\udc00"}]}', undefined, 400, 'INVALID_TEXT'],
  ['a tag with a lone surrogate', 'POST', send, '{"messages":[{"body":"a","tags":"\\ud800"}]}', undefined, 400, 'INVALID_TEXT'],
  ['a key with a lone surrogate', 'POST', send, '{"messages":[{"body":"a","keys":["k\\ud800"]}]}', undefined, 400, 'INVALID_TEXT'],
  ['a property value with a lone surrogate', 'POST', send, '{"messages":[{"body":"a","properties":{"p":"\\udfff"}}]}', undefined, 400, 'INVALID_TEXT'],
  ['a property name with a lone surrogate', 'POST', send, '{"messages":[{"body":"a","properties":{"\\ud800":"v"}}]}', undefined, 400, 'INVALID_TEXT'],
  ['a sharding key with a lone surrogate', 'POST', send, '{"messages":[{"body":"a","shardingKey":"\\ud800"}]}', undefined, 400, 'INVALID_TEXT'],
  [
    'a body over 4 MiB once decoded from base64',
    'POST',
    send,
    { messages: [{ body: Buffer.alloc(4 * 1024 * 1024 + 1).toString('base64'), bodyEncoding: 'base64' }] },
    undefined,
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  ['a read of an unknown topic', 'GET', '/v1/topics/nope/messages?broker=broker-a&queueId=0', undefined, undefined, 404, 'TOPIC_NOT_FOUND'],
  ['an unknown topic', 'GET', '/v1/topics/nope', undefined, undefined, 404, 'TOPIC_NOT_FOUND'],
  ['an unknown broker', 'GET', `${send}?broker=broker-z&queueId=0`, undefined, undefined, 404, 'BROKER_NOT_FOUND'],
  ['an unknown queue', 'GET', `${send}?broker=broker-a&queueId=9`, undefined, undefined, 404, 'QUEUE_NOT_FOUND'],
  ['a negative offset', 'GET', `${send}?broker=broker-a&queueId=0&offset=-1`, undefined, undefined, 400, 'INVALID_PARAMETER'],
  ['a non-numeric offset', 'GET', `${send}?broker=broker-a&queueId=0&offset=abc`, undefined, undefined, 400, 'INVALID_PARAMETER'],
  ['a negative max', 'GET', `${send}?broker=broker-a&queueId=0&max=-5`, undefined, undefined, 400, 'INVALID_PARAMETER'],
  ['a zero max', 'GET', `${send}?broker=broker-a&queueId=0&max=0`, undefined, undefined, 400, 'INVALID_PARAMETER'],
  ['a missing broker', 'GET', `${send}?queueId=0`, undefined, undefined, 400, 'INVALID_PARAMETER'],
  ['an unknown path', 'GET', '/v2/nothing', undefined, undefined, 404, 'NOT_FOUND'],
];

describe('bad input through the gateway', () => {
  it.each(cases)('%s answers its status and code, and changes nothing', async (_name, method, path, body, headers, status, code) => {
    const before = await storedState();
    const res = await api(gw, method, path, body, headers);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(await storedState()).toBe(before);
    expect((await api(gw, 'GET', '/healthz')).status).toBe(200);
  });

  it('refuses a body over 4 MiB with 413 and keeps serving', async () => {
    const before = await storedState();
    const huge = JSON.stringify({ messages: [{ body: 'x'.repeat(4 * 1024 * 1024 + 10) }] });
    const res = await postEarlyAnswer(`${gw}${send}`, huge);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await storedState()).toBe(before);
    const ok = await api(gw, 'POST', send, { messages: [{ body: 'still serving' }] });
    expect(ok.body.results[0].status).toBe('SEND_OK');
  });

  it('refuses request bytes that are not UTF-8 with 400 INVALID_TEXT, instead of storing U+FFFD', async () => {
    const before = await storedState();
    const body = Buffer.concat([Buffer.from('{"messages":[{"body":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}]}')]);
    for (const mode of ['sync', 'oneway']) {
      const res = await fetch(`${gw}${send}?mode=${mode}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_TEXT');
    }
    expect(await storedState()).toBe(before);
    // The same bytes as base64 go, and come back as they were.
    const bytes = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
    const ok = await api(gw, 'POST', send, { messages: [{ body: bytes.toString('base64'), bodyEncoding: 'base64' }] });
    const r = ok.body.results[0];
    expect(r.status).toBe('SEND_OK');
    const read = await api(gw, 'GET', `${send}?broker=${r.broker}&queueId=${r.queueId}&offset=${r.queueOffset}&max=1`);
    expect(read.body.messages[0]).toMatchObject({ messageId: r.messageId, bodyEncoding: 'base64', body: bytes.toString('base64') });
  });

  it('refuses a request past 5.5 MiB with 413, and takes 4 MiB bodies as base64, read back byte for byte', async () => {
    const before = await storedState();
    const over = JSON.stringify({ messages: [{ body: 'x'.repeat(MAX_SEND_REQUEST_BYTES), bodyEncoding: 'base64' }] });
    const res = await postEarlyAnswer(`${gw}${send}`, over);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await storedState()).toBe(before);

    expect((await api(gw, 'POST', '/v1/topics', { topic: 'blobs', queues: 1 })).status).toBe(201);
    for (const size of [4 * 1024 * 1024, 3 * 1024 * 1024]) {
      const bytes = randomBytes(size);
      const sent = await api(gw, 'POST', '/v1/topics/blobs/messages', { messages: [{ body: bytes.toString('base64'), bodyEncoding: 'base64' }] });
      expect(sent.status).toBe(200);
      const r = sent.body.results[0];
      expect(r.status).toBe('SEND_OK');
      const read = await api(gw, 'GET', `/v1/topics/blobs/messages?broker=${r.broker}&queueId=0&offset=${r.queueOffset}&max=1`);
      expect(read.body.messages[0].messageId).toBe(r.messageId);
      expect(Buffer.from(read.body.messages[0].body, 'base64').equals(bytes)).toBe(true);
    }
  });

  it('caps a read answer under 6 MB: two 3 MiB messages come one per answer, nextOffset continuing', async () => {
    const bodies = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)];
    const offsets: number[] = [];
    let broker = '';
    for (const b of bodies) {
      // One sharding key: one queue.
      const sent = await api(gw, 'POST', '/v1/topics/blobs/messages', {
        messages: [{ body: b.toString('base64'), bodyEncoding: 'base64', shardingKey: 'one' }],
      });
      expect(sent.body.results[0].status).toBe('SEND_OK');
      broker = sent.body.results[0].broker;
      offsets.push(sent.body.results[0].queueOffset);
    }
    expect(offsets[1]).toBe(offsets[0]! + 1);
    const res = await fetch(`${gw}/v1/topics/blobs/messages?broker=${broker}&queueId=0&offset=${offsets[0]}&max=32`);
    const text = await res.text();
    expect(Buffer.byteLength(text)).toBeLessThan(6_000_000);
    const first = JSON.parse(text);
    expect(first.messages.map((m: { queueOffset: number }) => m.queueOffset)).toEqual([offsets[0]]);
    expect(first.nextOffset).toBe(offsets[1]);
    const second = await api(gw, 'GET', `/v1/topics/blobs/messages?broker=${broker}&queueId=0&offset=${first.nextOffset}&max=32`);
    expect(second.body.messages.map((m: { queueOffset: number }) => m.queueOffset)).toEqual([offsets[1]]);
    expect(Buffer.from(second.body.messages[0].body, 'base64').equals(bodies[1]!)).toBe(true);
  });

  it('answers a oneway send 202 only for a topic it can route, counts it, and stores it', async () => {
    const metric = async (name: string) => Number(((await (await fetch(`${gw}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)$`, 'm')) ?? [])[1]);
    const accepted = await metric('cirrusmq_gateway_oneway_messages_accepted_total');
    const sentBefore = await metric('cirrusmq_gateway_messages_sent_total');
    const before = await storedState();
    const res = await api(gw, 'POST', `${send}?mode=oneway`, { messages: [{ body: 'one' }, { body: 'way' }, { body: 'three' }] });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 3 });
    expect(await metric('cirrusmq_gateway_oneway_messages_accepted_total')).toBe(accepted + 3);
    await waitFor('the oneway messages to be sent', 30_000, async () => (await metric('cirrusmq_gateway_messages_sent_total')) >= sentBefore + 3);
    expect(await storedState()).not.toBe(before);
    expect(await metric('cirrusmq_gateway_oneway_messages_failed_total')).toBe(0);
  });

  it('serves latency histograms and per-topic counters at /metrics of the gateway, the NameServer and the brokers', async () => {
    const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
    expect((await api(gw, 'POST', send, { messages: [{ body: 'm1' }, { body: 'm2' }, { body: 'm3' }] })).status).toBe(200);
    const g = await metrics(gw);
    expect(g).toMatch(/^cirrusmq_gateway_send_duration_seconds_bucket\{le="\+Inf",mode="sync",status="200"\} [1-9]\d*$/m);
    expect(g).toMatch(/^cirrusmq_gateway_topic_messages_sent_total\{topic="orders"\} [1-9]\d*$/m);
    const ns = await metrics(cluster.nameServerUrl);
    expect(ns).toMatch(/^cirrusmq_nameserver_brokers\{state="alive"\} 2$/m);
    expect(ns).toMatch(/^cirrusmq_nameserver_request_duration_seconds_count\{method="POST",route="\/v1\/brokers"\} [1-9]\d*$/m);
    let stored = 0;
    for (const broker of ['broker-a', 'broker-b']) {
      const b = await metrics(cluster.brokerUrl(broker));
      for (const h of ['cirrusmq_broker_send_duration_seconds', 'cirrusmq_broker_pull_duration_seconds', 'cirrusmq_store_flush_duration_seconds'])
        expect(b).toContain(`# TYPE ${h} histogram`);
      stored += Number(new RegExp(`^cirrusmq_broker_topic_put_messages_total\\{topic="orders",broker="${broker}"\\} (\\d+)$`, 'm').exec(b)?.[1] ?? 0);
    }
    // The seed and the three above at least (other tests send to orders too).
    expect(stored).toBeGreaterThanOrEqual(4);
  });

  it('cirrusmq: send to an unknown topic reports the failure and exits non-zero; read keeps a message on one line', async () => {
    const failed = await cli(['send', 'nosuch', 'hi', '--count', '5']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('sent 0/5, failed 5');
    expect(failed.stderr).toContain('TOPIC_NOT_FOUND');
    expect((await cli(['send', 'nosuch', 'hi'])).code).toBe(1);

    expect((await api(gw, 'POST', '/v1/topics', { topic: 'lines', queues: 1 })).status).toBe(201);
    const body = 'two\nlines\u0000and\ttabs';
    const sent = (await api(gw, 'POST', '/v1/topics/lines/messages', { messages: [{ body, tags: 'T' }] })).body.results[0];
    const read = await cli(['read', 'lines', '--broker', sent.broker, '--queue', '0']);
    expect(read.code).toBe(0);
    const lines = read.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2); // the message, then the summary
    const [offset, id, tag, text] = lines[0]!.split('\t');
    expect([Number(offset), id, tag, JSON.parse(text!)]).toEqual([sent.queueOffset, sent.messageId, 'T', body]);
  });

  it('serves its OpenAPI document', async () => {
    const res = await api(gw, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toContain('/v1/topics/{topic}/messages');
  });

  it('answers 503 with a retriable code at once when no broker of the topic is alive', async () => {
    await Promise.all([cluster.stopProcess('broker-a'), cluster.stopProcess('broker-b')]);
    const started = Date.now();
    const res = await api(gw, 'POST', send, { messages: [{ body: 'nowhere to go' }] });
    expect(res.status).toBe(503);
    expect(['NO_ROUTE', 'BROKER_UNAVAILABLE']).toContain(res.body.error.code);
    expect(Date.now() - started).toBeLessThan(SEND_TIMEOUT_MS / 2); // not after the send timeout
    // once the route is refreshed, the answer comes from the route itself: NO_ROUTE
    const codes: string[] = [];
    await waitFor('the gateway to answer NO_ROUTE', 30_000, async () => {
      const again = await api(gw, 'POST', send, { messages: [{ body: 'nowhere to go' }] });
      codes.push(`${again.status} ${again.body.error?.code}`);
      return again.body.error?.code === 'NO_ROUTE';
    });
    expect(codes.filter((c) => !c.startsWith('503 '))).toEqual([]); // 503 until then: nothing was taken
    expect(codes.at(-1)).toBe('503 NO_ROUTE');
  }, 90_000);
});
