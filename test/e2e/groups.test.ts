/**
 * Consumer groups as configuration, end to end through the gateway against real processes:
 * created, read, listed, updated and deleted; bad input refused with 400s while the service
 * keeps serving; and the config survives a SIGKILL of the NameServer (embedded store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
let gw: string;

beforeAll(async () => {
  cluster = await startTestCluster({ brokers: ['broker-a'] });
  gw = cluster.gatewayUrl;
});
afterAll(async () => {
  await stopTestCluster(cluster);
});

const groupNames = async () => ((await api(gw, 'GET', '/v1/groups')).body.groups as { group: string }[]).map((g) => g.group);

describe('consumer groups through the gateway', () => {
  it('creates, reads, lists, updates and deletes groups; config survives a NameServer SIGKILL', async () => {
    const created = await api(gw, 'PUT', '/v1/groups/billing', { retryMaxTimes: 3 });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ group: 'billing', retryMaxTimes: 3, orderly: false, consumeFrom: 'latest', createdAt: expect.any(Number) });
    const createdAt = created.body.createdAt as number;

    // No body at all: the defaults.
    const bare = await fetch(`${gw}/v1/groups/audit`, { method: 'PUT' });
    expect(bare.status).toBe(201);
    expect(await bare.json()).toMatchObject({ group: 'audit', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest' });

    const updated = await api(gw, 'PUT', '/v1/groups/billing', { orderly: true, consumeFrom: 'earliest' });
    expect(updated.status).toBe(200);
    const config = { group: 'billing', retryMaxTimes: 3, orderly: true, consumeFrom: 'earliest', createdAt };
    expect(updated.body).toEqual(config);
    expect((await api(gw, 'GET', '/v1/groups/billing')).body).toEqual(config);
    expect(await groupNames()).toEqual(['audit', 'billing']);

    await cluster.stopProcess('nameserver', 'SIGKILL');
    await cluster.startProcess('nameserver');
    expect((await api(gw, 'GET', '/v1/groups/billing')).body).toEqual(config);
    expect(await groupNames()).toEqual(['audit', 'billing']);
    // Brokers live in the NameServer's memory: the next heartbeat brings broker-a back.
    await waitFor('broker-a to register again', 30_000, async () =>
      (await api(gw, 'GET', '/v1/cluster')).body.brokers?.some((b: { alive: boolean }) => b.alive),
    );

    expect((await api(gw, 'DELETE', '/v1/groups/audit')).status).toBe(204);
    const gone = await api(gw, 'GET', '/v1/groups/audit');
    expect([gone.status, gone.body.error.code]).toEqual([404, 'GROUP_NOT_FOUND']);
    expect(await groupNames()).toEqual(['billing']);
  });

  it('creates a group on first use: a receive naming an unknown group makes the broker create it with the defaults', async () => {
    expect((await api(gw, 'POST', '/v1/topics', { topic: 'orders', queues: 1 })).status).toBe(201);
    expect((await api(gw, 'GET', '/v1/groups/first-use')).status).toBe(404);
    const received = await api(gw, 'POST', '/v1/topics/orders/groups/first-use/receive', { max: 1, waitSeconds: 0 });
    expect(received.status).toBe(200);
    const config = await api(gw, 'GET', '/v1/groups/first-use');
    expect(config.status).toBe(200);
    expect(config.body).toMatchObject({ group: 'first-use', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest' });
  });

  it('refuses bad input with 400s, changes nothing, and keeps serving', async () => {
    const before = (await api(gw, 'GET', '/v1/groups')).body;
    const cases: [string, string, unknown, number, string][] = [
      ['PUT', '/v1/groups/%25DLQ%25billing', {}, 400, 'INVALID_GROUP'],
      ['PUT', '/v1/groups/%25RETRY%25billing', {}, 400, 'INVALID_GROUP'],
      ['PUT', '/v1/groups/rmq_sys_x', {}, 400, 'INVALID_GROUP'],
      ['PUT', '/v1/groups/bad.name', {}, 400, 'INVALID_GROUP'],
      ['PUT', `/v1/groups/${'x'.repeat(65)}`, {}, 400, 'INVALID_GROUP'],
      ['GET', '/v1/groups/%25DLQ%25billing', undefined, 400, 'INVALID_GROUP'],
      ['DELETE', '/v1/groups/bad.name', undefined, 400, 'INVALID_GROUP'],
      ['PUT', '/v1/groups/billing', { retryMaxTimes: 65 }, 400, 'INVALID_PARAMETER'],
      ['PUT', '/v1/groups/billing', { retryMaxTimes: -1 }, 400, 'INVALID_PARAMETER'],
      ['PUT', '/v1/groups/billing', { consumeFrom: 'yesterday' }, 400, 'INVALID_PARAMETER'],
      ['PUT', '/v1/groups/billing', { orderly: 'yes' }, 400, 'INVALID_PARAMETER'],
      ['PUT', '/v1/groups/billing', '{"retryMaxTimes":', 400, 'INVALID_JSON'],
      ['GET', '/v1/groups/nobody', undefined, 404, 'GROUP_NOT_FOUND'],
      ['DELETE', '/v1/groups/nobody', undefined, 404, 'GROUP_NOT_FOUND'],
    ];
    for (const [method, urlPath, body, status, code] of cases) {
      const res = await api(gw, method, urlPath, body);
      expect({ method, urlPath, status: res.status, code: res.body?.error?.code, hasMessage: typeof res.body?.error?.message }).toEqual({
        method,
        urlPath,
        status,
        code,
        hasMessage: 'string',
      });
    }
    expect((await api(gw, 'GET', '/v1/groups')).body).toEqual(before);
    expect((await api(gw, 'GET', '/healthz')).status).toBe(200);
    expect((await api(gw, 'PUT', '/v1/groups/still-works', {})).status).toBe(201);
  });
});
