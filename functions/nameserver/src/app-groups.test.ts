/** The NameServer's consumer group routes over a real embedded store, through app.request. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { expectError } from '../../../test/support/error-answer';
import { createNameServerApp } from './app';
import { EmbeddedRouteTable } from './route-table/embedded-route-table';

let dataDir: string;
let t: number;
let table: EmbeddedRouteTable;
let app: ReturnType<typeof createNameServerApp>;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-groups-'));
  t = 1_700_000_000_000;
  table = await EmbeddedRouteTable.open({ dataDir, now: () => t, sweepIntervalMs: 3_600_000 });
  app = createNameServerApp(table, silentLogger);
});

afterEach(async () => {
  await table.close();
  await rm(dataDir, { recursive: true, force: true });
});

const put = (group: string, body: unknown, contentType = 'application/json') =>
  app.request(`/v1/groups/${group}`, { method: 'PUT', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('NameServer app: consumer groups', () => {
  it('creates (201), updates (200, createdAt kept), gets, lists and deletes (204) a group', async () => {
    const created = await put('billing', { retryMaxTimes: 3 });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ group: 'billing', retryMaxTimes: 3, orderly: false, consumeFrom: 'latest', createdAt: t });

    t += 1_000;
    const updated = await put('billing', { orderly: true, consumeFrom: 'earliest' });
    expect(updated.status).toBe(200);
    const config = { group: 'billing', retryMaxTimes: 3, orderly: true, consumeFrom: 'earliest', createdAt: t - 1_000 };
    expect(await updated.json()).toEqual(config);

    expect(await (await app.request('/v1/groups/billing')).json()).toEqual(config);
    await put('audit', {});
    expect(await (await app.request('/v1/groups')).json()).toEqual({
      groups: [{ group: 'audit', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest', createdAt: t }, config],
    });

    const del = await app.request('/v1/groups/billing', { method: 'DELETE' });
    expect(del.status).toBe(204);
    await expectError(await app.request('/v1/groups/billing'), 404, 'GROUP_NOT_FOUND', /billing/);
    await expectError(await app.request('/v1/groups/billing', { method: 'DELETE' }), 404, 'GROUP_NOT_FOUND');
  });

  it('ensure creates a group with the defaults once, then answers it unchanged', async () => {
    const first = await app.request('/v1/groups/lazy/ensure', { method: 'POST' });
    expect(first.status).toBe(200);
    const config = await first.json();
    expect(config).toEqual({ group: 'lazy', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest', createdAt: t });
    t += 5;
    expect(await (await app.request('/v1/groups/lazy/ensure', { method: 'POST' })).json()).toEqual(config);
    expect((await table.listGroups()).map((g) => g.group)).toEqual(['lazy']);
  });

  it('refuses invalid and reserved group names with INVALID_GROUP, on every route', async () => {
    for (const name of ['%25DLQ%25billing', '%25RETRY%25billing', 'rmq_sys_x', 'a.b', 'sp%20ace', 'x'.repeat(65)]) {
      await expectError(await app.request(`/v1/groups/${name}`), 400, 'INVALID_GROUP');
      await expectError(await put(name, {}), 400, 'INVALID_GROUP');
      await expectError(await app.request(`/v1/groups/${name}`, { method: 'DELETE' }), 400, 'INVALID_GROUP');
      await expectError(await app.request(`/v1/groups/${name}/ensure`, { method: 'POST' }), 400, 'INVALID_GROUP');
    }
    expect(await table.listGroups()).toEqual([]);
  });

  it('refuses bad bodies with clear messages and stores nothing', async () => {
    await expectError(await put('g', { retryMaxTimes: 65 }), 400, 'INVALID_PARAMETER', /retryMaxTimes must be an integer from 0 to 64/);
    await expectError(await put('g', { retryMaxTimes: -1 }), 400, 'INVALID_PARAMETER', /retryMaxTimes/);
    await expectError(await put('g', { retryMaxTimes: 1.5 }), 400, 'INVALID_PARAMETER', /retryMaxTimes/);
    await expectError(await put('g', { retryMaxTimes: '3' }), 400, 'INVALID_PARAMETER', /retryMaxTimes/);
    await expectError(await put('g', { orderly: 'yes' }), 400, 'INVALID_PARAMETER', /orderly/);
    await expectError(await put('g', { consumeFrom: 'oldest' }), 400, 'INVALID_PARAMETER', /consumeFrom/);
    await expectError(await put('g', { consumeFrom: -5 }), 400, 'INVALID_PARAMETER', /consumeFrom/);
    await expectError(await put('g', { consumeFrom: 1.5 }), 400, 'INVALID_PARAMETER', /consumeFrom/);
    await expectError(await put('g', { retryMaxTime: 3 }), 400, 'INVALID_PARAMETER', /unknown field "retryMaxTime"/);
    await expectError(await put('g', '[1]'), 400, 'BAD_REQUEST');
    await expectError(await put('g', '{"retryMaxTimes":'), 400, 'INVALID_JSON');
    await expectError(await put('g', '{}', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(await table.listGroups()).toEqual([]);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});
