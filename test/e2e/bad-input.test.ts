/**
 * Bad input through the gateway, against a real cluster: each gets a 4xx JSON error with a
 * code, nothing stored changes, and the service keeps serving. A topic whose brokers are all
 * gone answers 503 with a retriable code at once.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
let gw: string;
const SEND_TIMEOUT_MS = 60_000;
beforeAll(async () => {
  // A send timeout far above any answer time on a busy machine: "503 at once" (below) then
  // means "without waiting for the timeout", not "fast enough today".
  cluster = await startTestCluster({ env: { CIRRUSMQ_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS) } });
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
