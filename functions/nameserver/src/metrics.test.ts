import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BrokerRegistration, silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sample } from '../../../test/support/prometheus-text';
import { createNameServerApp } from './app';
import { REQUEST_BUCKETS } from './metrics';
import { EmbeddedRouteTable } from './route-table/embedded-route-table';

const registration = (brokerName: string, heartbeatTimeoutMs?: number): BrokerRegistration => ({
  clusterName: 'DefaultCluster',
  brokerName,
  brokerId: 0,
  brokerAddr: `127.0.0.1:${brokerName === 'broker-a' ? 10911 : 10921}`,
  startedAt: 1,
  ...(heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs }),
});

let dataDir: string;
let t: number;
let table: EmbeddedRouteTable;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-metrics-'));
  t = 1_700_000_000_000;
  table = await EmbeddedRouteTable.open({ dataDir, now: () => t, sweepIntervalMs: 3_600_000 });
});

afterEach(async () => {
  await table.close();
  await rm(dataDir, { recursive: true, force: true });
});

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('NameServer GET /metrics', () => {
  it('counts and times requests by route pattern and status, and counts the registered brokers', async () => {
    const app = createNameServerApp(table, silentLogger);
    expect((await app.request('/v1/brokers', post(registration('broker-a')))).status).toBe(200);
    expect((await app.request('/v1/brokers', post(registration('broker-b', 10_000)))).status).toBe(200);
    expect((await app.request('/v1/topics', post({ topic: 'TopicA', queues: 4 }))).status).toBe(201);
    expect((await app.request('/v1/topics/TopicA/route')).status).toBe(200);
    expect((await app.request('/v1/topics/Other/route')).status).toBe(404);
    expect((await app.request('/v1/topics/Other/route')).status).toBe(404);
    expect((await app.request('/no/such/path')).status).toBe(404);
    t += 60_000; // broker-b's 10 s heartbeat timeout passes

    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    const route = '/v1/topics/:topic/route';
    expect(sample(text, 'cirrusmq_nameserver_requests_total', { method: 'POST', route: '/v1/brokers', status: '200' })).toBe(2);
    expect(sample(text, 'cirrusmq_nameserver_requests_total', { method: 'POST', route: '/v1/topics', status: '201' })).toBe(1);
    expect(sample(text, 'cirrusmq_nameserver_requests_total', { method: 'GET', route, status: '200' })).toBe(1);
    expect(sample(text, 'cirrusmq_nameserver_requests_total', { method: 'GET', route, status: '404' })).toBe(2);
    expect(sample(text, 'cirrusmq_nameserver_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    // Topic names never become label values.
    expect(text).not.toContain('Other');

    expect(text).toContain('# TYPE cirrusmq_nameserver_request_duration_seconds histogram');
    const les = text.split('\n').filter((l) => l.startsWith('cirrusmq_nameserver_request_duration_seconds_bucket{') && l.includes(`route="${route}"`));
    expect(les.map((l) => /le="([^"]+)"/.exec(l)![1])).toEqual([...REQUEST_BUCKETS.map(String), '+Inf']);
    expect(sample(text, 'cirrusmq_nameserver_request_duration_seconds_count', { method: 'GET', route })).toBe(3);

    expect(sample(text, 'cirrusmq_nameserver_brokers', { state: 'alive' })).toBe(1);
    expect(sample(text, 'cirrusmq_nameserver_brokers', { state: 'expired' })).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
  });

  it('keeps each app its own counts (one registry per app, not a process-wide one)', async () => {
    const a = createNameServerApp(table, silentLogger);
    const b = createNameServerApp(table, silentLogger);
    await a.request('/v1/topics');
    await a.request('/v1/topics');
    await b.request('/v1/topics');
    expect(
      sample(await (await a.request('/metrics')).text(), 'cirrusmq_nameserver_requests_total', { method: 'GET', route: '/v1/topics', status: '200' }),
    ).toBe(2);
    expect(
      sample(await (await b.request('/metrics')).text(), 'cirrusmq_nameserver_requests_total', { method: 'GET', route: '/v1/topics', status: '200' }),
    ).toBe(1);
  });
});
