/**
 * The gateway's Lambda entry: the same app behind hono/aws-lambda, with an in-process
 * NameServer and broker behind it. In Lambda the body comes from the event, not a node
 * request, so this covers the other branch of the body reader too.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../client/src/logger';
import { BrokerController } from '../../../broker-node/src/broker-controller';
import { loadBrokerConfig } from '../../../broker-node/src/config';
import { createNameServerApp } from '../../nameserver/src/app';
import { EmbeddedRouteTable } from '../../nameserver/src/route-table/embedded-route-table';

let dir: string;
let nameServer: ServerType;
let routeTable: EmbeddedRouteTable;
let broker: BrokerController;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-gw-lambda-'));
  routeTable = await EmbeddedRouteTable.open({ dataDir: dir, defaultBrokerExpiryMs: 120_000, sweepIntervalMs: 10_000 });
  nameServer = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: createNameServerApp(routeTable, silentLogger).fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const nsAddr = `127.0.0.1:${(nameServer.address() as AddressInfo).port}`;
  broker = new BrokerController(
    loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: path.join(dir, 'broker-a'), CIRRUSMQ_NAMESRV_ADDR: nsAddr, CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: '1048576' }),
    { logger: silentLogger },
  );
  await broker.start();
  vi.stubEnv('CIRRUSMQ_NAMESRV_ADDR', nsAddr);
  vi.stubEnv('CIRRUSMQ_LOG_LEVEL', 'error');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await broker?.shutdown();
  nameServer?.close();
  await routeTable?.close();
  rmSync(dir, { recursive: true, force: true });
});

function httpApiEvent(method: string, rawPath: string, rawQueryString = '', body?: string, base64 = false) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'gw.example.com', 'content-type': 'application/json' },
    body: body ?? null,
    isBase64Encoded: base64,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'gw.example.com',
      domainPrefix: 'gw',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'r1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
  };
}

describe('gateway Lambda handler', () => {
  it('creates a topic, sends and reads back through API Gateway events', async () => {
    const { handler } = await import('./handler');
    const call = async (...args: Parameters<typeof httpApiEvent>) => {
      const res = (await handler(httpApiEvent(...args) as never)) as { statusCode: number; body: string };
      return { status: res.statusCode, body: JSON.parse(res.body) };
    };

    expect((await call('POST', '/v1/topics', '', JSON.stringify({ topic: 'lambda', queues: 1 }))).status).toBe(201);
    // API Gateway hands binary-safe bodies over base64-encoded
    const sendBody = Buffer.from(JSON.stringify({ messages: [{ body: 'from lambda', tags: 'TagL' }] })).toString('base64');
    const sent = await call('POST', '/v1/topics/lambda/messages', '', sendBody, true);
    expect(sent.status).toBe(200);
    expect(sent.body.results[0]).toMatchObject({ status: 'SEND_OK', broker: 'broker-a', queueId: 0, queueOffset: 0 });

    const read = await call('GET', '/v1/topics/lambda/messages', 'broker=broker-a&queueId=0&offset=0');
    expect(read.body.messages[0]).toMatchObject({ body: 'from lambda', tags: 'TagL' });

    const bad = await call('POST', '/v1/topics/lambda/messages', '', '{"messages": [');
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    const tooBig = await call('POST', '/v1/topics/lambda/messages', '', JSON.stringify({ messages: [{ body: 'x'.repeat(4 * 1024 * 1024) }] }));
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
  });
});
