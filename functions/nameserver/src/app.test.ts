import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BrokerRegistration, createLogger, silentLogger } from '@cirrusmq/client/protocol';
import { expectError } from '../../../test/support/error-answer';
import { createNameServerApp } from './app';
import { EmbeddedRouteTable } from './route-table/embedded-route-table';
import type { RouteTable } from './route-table/route-table';

const registration: BrokerRegistration = {
  clusterName: 'DefaultCluster',
  brokerName: 'broker-a',
  brokerId: 0,
  brokerAddr: '127.0.0.1:10911',
  startedAt: 1,
};

let dataDir: string;
let t: number;
let table: EmbeddedRouteTable;
let app: ReturnType<typeof createNameServerApp>;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-app-'));
  t = 1_700_000_000_000;
  table = await EmbeddedRouteTable.open({ dataDir, now: () => t, sweepIntervalMs: 3_600_000 });
  app = createNameServerApp(table, silentLogger);
});

afterEach(async () => {
  await table.close();
  await rm(dataDir, { recursive: true, force: true });
});

const json = (body: unknown, method = 'POST'): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

async function expectStillServing(): Promise<void> {
  const res = await app.request('/healthz');
  expect(res.status).toBe(200);
}

describe('NameServer app: happy paths', () => {
  it('answers /healthz', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', pid: process.pid });
  });

  it('registers, lists and unregisters brokers', async () => {
    const reg = await app.request('/v1/brokers', json({ ...registration, heartbeatTimeoutMs: 30_000 }));
    expect(reg.status).toBe(200);
    expect(await reg.json()).toEqual({ topics: [], expiresAtMs: t + 30_000 });

    const cluster = await app.request('/v1/cluster');
    expect(cluster.status).toBe(200);
    expect(await cluster.json()).toEqual({
      brokers: [
        {
          cluster: 'DefaultCluster',
          brokerName: 'broker-a',
          brokerId: 0,
          addr: '127.0.0.1:10911',
          lastHeartbeatMs: t,
          startedAt: 1,
          expiresAtMs: t + 30_000,
          alive: true,
        },
      ],
    });

    const del = await app.request('/v1/brokers/DefaultCluster/broker-a/0', { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect(await (await app.request('/v1/cluster')).json()).toEqual({ brokers: [] });
  });

  it('creates (201), re-creates (200), describes, lists, routes and deletes a topic', async () => {
    await app.request('/v1/brokers', json(registration));

    const created = await app.request('/v1/topics', json({ topic: 'orders', queues: 4 }));
    expect(created.status).toBe(201);
    const info = { topic: 'orders', queues: 4, createdAt: t, brokers: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 }] };
    expect(await created.json()).toEqual(info);

    const again = await app.request('/v1/topics', json({ topic: 'orders', queues: 4, cluster: 'DefaultCluster' }));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(info);

    expect(await (await app.request('/v1/topics/orders')).json()).toEqual(info);
    expect(await (await app.request('/v1/topics')).json()).toEqual({ topics: [info] });

    const route = await app.request('/v1/topics/orders/route');
    expect(route.status).toBe(200);
    expect(await route.json()).toEqual({
      topic: 'orders',
      queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
      brokerDatas: [{ cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: { '0': '127.0.0.1:10911' } }],
      filterServerTable: {},
    });

    const del = await app.request('/v1/topics/orders', { method: 'DELETE' });
    expect(del.status).toBe(204);
    await expectError(await app.request('/v1/topics/orders'), 404, 'TOPIC_NOT_FOUND');
  });

  it('answers a route with empty queueDatas when the topic has no live broker', async () => {
    await app.request('/v1/brokers', json({ ...registration, heartbeatTimeoutMs: 1_000 }));
    await app.request('/v1/topics', json({ topic: 'orders', queues: 2 }));
    t += 1_000;
    const route = await app.request('/v1/topics/orders/route');
    expect(route.status).toBe(200);
    expect(await route.json()).toMatchObject({ queueDatas: [], brokerDatas: [] });
  });

  it('returns the broker its topics when it registers again', async () => {
    await app.request('/v1/brokers', json(registration));
    await app.request('/v1/topics', json({ topic: 'orders', queues: 2 }));
    const res = await app.request('/v1/brokers', json(registration));
    expect(((await res.json()) as { topics: unknown[] }).topics).toEqual([{ topic: 'orders', readQueueNums: 2, writeQueueNums: 2, perm: 6, order: false }]);
  });

  it('allows reserved prefixes on reads (URL-encoded)', async () => {
    await expectError(await app.request(`/v1/topics/${encodeURIComponent('%RETRY%group-a')}/route`), 404, 'TOPIC_NOT_FOUND');
    await expectError(await app.request(`/v1/topics/${encodeURIComponent('%DLQ%group-a')}`), 404, 'TOPIC_NOT_FOUND');
  });
});

describe('NameServer app: bad input', () => {
  it.each([
    ['malformed JSON', json('{"topic":'), 400, 'INVALID_JSON'],
    ['empty body', json(''), 400, 'INVALID_JSON'],
    ['a JSON array', json([1, 2]), 400, 'BAD_REQUEST'],
    ['text/plain', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"topic":"a","queues":1}' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no content type', { method: 'POST', body: '{"topic":"a","queues":1}' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['invalid topic chars', json({ topic: 'or/ders', queues: 1 }), 400, 'INVALID_TOPIC'],
    ['a 128-char topic', json({ topic: 'a'.repeat(128), queues: 1 }), 400, 'INVALID_TOPIC'],
    ['a missing topic', json({ queues: 1 }), 400, 'INVALID_TOPIC'],
    ['a reserved prefix', json({ topic: '%RETRY%x', queues: 1 }), 400, 'RESERVED_TOPIC'],
    ['rmq_sys_ prefix', json({ topic: 'rmq_sys_x', queues: 1 }), 400, 'RESERVED_TOPIC'],
    ['zero queues', json({ topic: 'orders', queues: 0 }), 400, 'INVALID_PARAMETER'],
    ['fractional queues', json({ topic: 'orders', queues: 1.5 }), 400, 'INVALID_PARAMETER'],
    ['queues as a string', json({ topic: 'orders', queues: '4' }), 400, 'INVALID_PARAMETER'],
    ['too many queues', json({ topic: 'orders', queues: 1025 }), 400, 'INVALID_PARAMETER'],
    ['an empty cluster', json({ topic: 'orders', queues: 1, cluster: '' }), 400, 'INVALID_PARAMETER'],
  ] as const)('POST /v1/topics with %s', async (_name, init, status, code) => {
    await expectError(await app.request('/v1/topics', init as RequestInit), status, code);
    await expectStillServing();
  });

  it('answers 503 NO_LIVE_BROKER for a new topic with no broker, and 409 TOPIC_EXISTS for other queues', async () => {
    await expectError(await app.request('/v1/topics', json({ topic: 'orders', queues: 4 })), 503, 'NO_LIVE_BROKER');
    await app.request('/v1/brokers', json(registration));
    expect((await app.request('/v1/topics', json({ topic: 'orders', queues: 4 }))).status).toBe(201);
    await expectError(await app.request('/v1/topics', json({ topic: 'orders', queues: 8 })), 409, 'TOPIC_EXISTS');
    await expectStillServing();
  });

  it.each([
    ['a missing clusterName', { clusterName: undefined }],
    ['an empty brokerName', { brokerName: '' }],
    ['a brokerName with #', { brokerName: 'a#0' }],
    ['a negative brokerId', { brokerId: -1 }],
    ['a fractional brokerId', { brokerId: 0.5 }],
    ['a brokerId string', { brokerId: '0' }],
    ['an addr without port', { brokerAddr: '127.0.0.1' }],
    ['an addr with port 0', { brokerAddr: '127.0.0.1:0' }],
    ['an addr with a bad port', { brokerAddr: 'host:99999' }],
    ['an empty host', { brokerAddr: ':10911' }],
    ['a bad haServerAddr', { haServerAddr: 'nope' }],
    ['a missing startedAt', { startedAt: undefined }],
    ['a negative dataVersion', { dataVersion: -2 }],
    ['a zero heartbeatTimeoutMs', { heartbeatTimeoutMs: 0 }],
  ])('POST /v1/brokers with %s', async (_name, patch) => {
    await expectError(await app.request('/v1/brokers', json({ ...registration, ...patch })), 400, 'INVALID_PARAMETER');
    await expectStillServing();
  });

  it('rejects malformed JSON and wrong content types on /v1/brokers', async () => {
    await expectError(await app.request('/v1/brokers', json('not json')), 400, 'INVALID_JSON');
    await expectError(
      await app.request('/v1/brokers', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectStillServing();
  });

  it('accepts a JSON content type with parameters', async () => {
    const res = await app.request('/v1/brokers', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(registration),
    });
    expect(res.status).toBe(200);
  });

  it('rejects a bad brokerId and names in DELETE /v1/brokers', async () => {
    await expectError(await app.request('/v1/brokers/c1/broker-a/x', { method: 'DELETE' }), 400, 'INVALID_PARAMETER');
    await expectError(await app.request('/v1/brokers/c1/broker-a/-1', { method: 'DELETE' }), 400, 'INVALID_PARAMETER');
    await expectError(await app.request(`/v1/brokers/c1/${encodeURIComponent('a#b')}/0`, { method: 'DELETE' }), 400, 'INVALID_PARAMETER');
    await expectStillServing();
  });

  it.each([
    ['GET', '/v1/topics/or%20ders', 400, 'INVALID_TOPIC'],
    ['GET', `/v1/topics/${'a'.repeat(128)}`, 400, 'INVALID_TOPIC'],
    ['GET', `/v1/topics/${'a'.repeat(128)}/route`, 400, 'INVALID_TOPIC'],
    ['DELETE', '/v1/topics/or%2Fders', 400, 'INVALID_TOPIC'],
    ['GET', '/v1/topics/unknown', 404, 'TOPIC_NOT_FOUND'],
    ['GET', '/v1/topics/unknown/route', 404, 'TOPIC_NOT_FOUND'],
    ['DELETE', '/v1/topics/unknown', 404, 'TOPIC_NOT_FOUND'],
    ['GET', '/v2/nothing', 404, 'NOT_FOUND'],
    ['PUT', '/v1/topics', 404, 'NOT_FOUND'],
  ] as const)('%s %s answers %i %s', async (method, url, status, code) => {
    await expectError(await app.request(url, { method }), status, code);
    await expectStillServing();
  });

  it('hides an unexpected failure behind 500 INTERNAL and logs it', async () => {
    const lines: string[] = [];
    const failing = { listTopics: () => Promise.reject(new Error('table gone: arn:secret')) } as unknown as RouteTable;
    const broken = createNameServerApp(
      failing,
      createLogger({}, 'info', (l) => lines.push(l)),
    );
    const res = await broken.request('/v1/topics');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'unhandled error',
        path: '/v1/topics',
        err: expect.objectContaining({ message: 'table gone: arn:secret' }),
      }),
    ]);
    expect((await broken.request('/healthz')).status).toBe(200);
  });

  it('logs each request as JSON at debug level', async () => {
    const lines: string[] = [];
    const logged = createNameServerApp(
      table,
      createLogger({ service: 'nameserver' }, 'debug', (l) => lines.push(l)),
    );
    await logged.request('/v1/topics/unknown');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ level: 'debug', msg: 'request', method: 'GET', path: '/v1/topics/unknown', status: 404 });
  });
});
