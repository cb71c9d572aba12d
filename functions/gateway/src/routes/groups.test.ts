/**
 * The gateway's group routes through app.request, against a real NameServer (embedded store,
 * served over HTTP) reached with the NameServerClient, as in a deployment.
 */
import { serve, type ServerType } from '@hono/node-server';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NameServerClient, silentLogger } from '@cirrusmq/client/protocol';
import { createNameServerApp } from '../../../nameserver/src/app';
import { EmbeddedRouteTable } from '../../../nameserver/src/route-table/embedded-route-table';
import { createGatewayApp } from '../app';
import type { GatewayDeps } from '../deps';
import { expectError } from '../../../../test/support/error-answer';
import { GatewayMetrics } from '../metrics';

let dir: string;
let routeTable: EmbeddedRouteTable;
let server: ServerType;
let client: NameServerClient;
let app: ReturnType<typeof createGatewayApp>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-gw-groups-'));
  routeTable = await EmbeddedRouteTable.open({ dataDir: dir, sweepIntervalMs: 3_600_000 });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: createNameServerApp(routeTable, silentLogger).fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  client = new NameServerClient(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  // Group routes use only the NameServer.
  app = createGatewayApp({ nameServer: client, logger: silentLogger, metrics: new GatewayMetrics() } as unknown as GatewayDeps);
});

afterAll(async () => {
  client?.close();
  server?.close();
  await routeTable?.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (group: string, body?: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  app.request(`/v1/groups/${group}`, { method: 'PUT', headers: body === undefined ? {} : headers, body });

describe('gateway: consumer group routes', () => {
  it('PUT creates (201) then updates (200, createdAt kept); GET, list and DELETE forward to the NameServer', async () => {
    const created = await put('billing', JSON.stringify({ retryMaxTimes: 3 }));
    expect(created.status).toBe(201);
    const first = (await created.json()) as { createdAt: number };
    expect(first).toMatchObject({ group: 'billing', retryMaxTimes: 3, orderly: false, consumeFrom: 'latest' });

    const updated = await put('billing', JSON.stringify({ orderly: true, consumeFrom: 1_700_000_000_000 }));
    expect(updated.status).toBe(200);
    const config = { group: 'billing', retryMaxTimes: 3, orderly: true, consumeFrom: 1_700_000_000_000, createdAt: first.createdAt };
    expect(await updated.json()).toEqual(config);
    expect(await routeTable.getGroup('billing')).toEqual(config);

    expect(await (await app.request('/v1/groups/billing')).json()).toEqual(config);
    expect(((await (await app.request('/v1/groups')).json()) as { groups: { group: string }[] }).groups.map((g) => g.group)).toContain('billing');

    expect((await app.request('/v1/groups/billing', { method: 'DELETE' })).status).toBe(204);
    expect(await routeTable.getGroup('billing')).toBeUndefined();
    await expectError(await app.request('/v1/groups/billing'), 404, 'GROUP_NOT_FOUND', /billing/);
    await expectError(await app.request('/v1/groups/billing', { method: 'DELETE' }), 404, 'GROUP_NOT_FOUND');
  });

  it('PUT with no body creates the group with the defaults', async () => {
    const res = await put('bare');
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ group: 'bare', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest' });
  });

  it('refuses bad names and bodies at the edge with clear errors, storing nothing, and keeps serving', async () => {
    const before = await routeTable.listGroups();
    for (const name of ['%25DLQ%25g', '%25RETRY%25g', 'rmq_sys_g', 'a.b', 'x'.repeat(65)]) {
      await expectError(await put(name, '{}'), 400, 'INVALID_GROUP');
      await expectError(await app.request(`/v1/groups/${name}`), 400, 'INVALID_GROUP');
      await expectError(await app.request(`/v1/groups/${name}`, { method: 'DELETE' }), 400, 'INVALID_GROUP');
    }
    await expectError(await put('g', '{"retryMaxTimes":65}'), 400, 'INVALID_PARAMETER', /retryMaxTimes must be an integer from 0 to 64/);
    await expectError(await put('g', '{"orderly":"true"}'), 400, 'INVALID_PARAMETER', /orderly/);
    await expectError(await put('g', '{"consumeFrom":"yesterday"}'), 400, 'INVALID_PARAMETER', /consumeFrom/);
    await expectError(await put('g', '{"retries":1}'), 400, 'INVALID_PARAMETER', /unknown field "retries"/);
    await expectError(await put('g', '{"retryMaxTimes":'), 400, 'INVALID_JSON');
    await expectError(await put('g', '"x"'), 400, 'BAD_REQUEST');
    await expectError(await put('g', '{}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(await routeTable.listGroups()).toEqual(before);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('describes the four routes in the OpenAPI document', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
    expect(doc.paths['/v1/groups']?.get?.operationId).toBe('listGroups');
    expect(Object.fromEntries(Object.entries(doc.paths['/v1/groups/{group}'] ?? {}).map(([m, op]) => [m, op.operationId]))).toEqual({
      put: 'putGroup',
      get: 'getGroup',
      delete: 'deleteGroup',
    });
  });
});
