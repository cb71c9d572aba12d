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
import { randomBytes } from 'node:crypto';
import { decodePopParts, POP_PARTS_TYPE, silentLogger } from '@cirrusmq/client/protocol';
import { BrokerController } from '../../../broker-node/src/broker-controller';
import { loadBrokerConfig } from '../../../broker-node/src/config';
import { createNameServerApp } from '../../nameserver/src/app';
import { EmbeddedRouteTable } from '../../nameserver/src/route-table/embedded-route-table';
import { LAMBDA_PAYLOAD_BYTES, MAX_SEND_REQUEST_BYTES } from './limits';

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
    // 16 MiB segments: a 4 MiB record must fit one.
    loadBrokerConfig({
      CIRRUSMQ_BROKER_PORT: '0',
      CIRRUSMQ_STORE_DIR: path.join(dir, 'broker-a'),
      CIRRUSMQ_NAMESRV_ADDR: nsAddr,
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(16 * 1024 * 1024),
    }),
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

function httpApiEvent(method: string, rawPath: string, rawQueryString = '', body?: string, base64 = false, headers: Record<string, string> = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'gw.example.com', 'content-type': 'application/json', ...headers },
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
    // Past the request limit (5.5 MiB), and a text body past 4 MiB under it.
    const tooBig = await call('POST', '/v1/topics/lambda/messages', '', JSON.stringify({ messages: [{ body: 'x'.repeat(MAX_SEND_REQUEST_BYTES) }] }));
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    const bodyTooBig = await call('POST', '/v1/topics/lambda/messages', '', JSON.stringify({ messages: [{ body: 'x'.repeat(4 * 1024 * 1024 + 1) }] }));
    expect(bodyTooBig).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
  });

  it('carries a 4 MiB binary body both ways within Lambda payload limits, and caps reads and lookups to fit one', async () => {
    const { handler } = await import('./handler');
    const call = async (...args: Parameters<typeof httpApiEvent>) => {
      const event = httpApiEvent(...args);
      const res = (await handler(event as never)) as { statusCode: number; body: string };
      // What Lambda counts: the invocation's event and result as JSON.
      return {
        status: res.statusCode,
        body: JSON.parse(res.body),
        eventBytes: Buffer.byteLength(JSON.stringify(event)),
        resultBytes: Buffer.byteLength(JSON.stringify(res)),
      };
    };
    expect((await call('POST', '/v1/topics', '', JSON.stringify({ topic: 'big', queues: 1 }))).status).toBe(201);

    const max = randomBytes(4 * 1024 * 1024);
    const sent = await call(
      'POST',
      '/v1/topics/big/messages',
      '',
      JSON.stringify({ messages: [{ body: max.toString('base64'), bodyEncoding: 'base64', keys: ['k'] }] }),
    );
    expect(sent.body).toMatchObject({ results: [{ status: 'SEND_OK', queueOffset: 0 }] });
    expect(sent.eventBytes).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    const three = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)];
    for (const b of three) {
      const r = await call(
        'POST',
        '/v1/topics/big/messages',
        '',
        JSON.stringify({ messages: [{ body: b.toString('base64'), bodyEncoding: 'base64', keys: ['k'] }] }),
      );
      expect(r.status).toBe(200);
    }

    // Each read answers what fits: the 4 MiB message alone, then one 3 MiB message at a time
    // (two would be 8.4 MB of base64); nextOffset continues where the answer stopped.
    const bodies: Buffer[] = [];
    let offset = 0;
    for (let reads = 0; offset < 3; reads++) {
      expect(reads).toBeLessThan(3);
      const read = await call('GET', '/v1/topics/big/messages', `broker=broker-a&queueId=0&offset=${offset}&max=32`);
      expect(read.status).toBe(200);
      expect(read.resultBytes).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
      expect(read.body.messages.length).toBe(1);
      expect(read.body.nextOffset).toBe(offset + 1);
      bodies.push(Buffer.from(read.body.messages[0].body, 'base64'));
      offset = read.body.nextOffset;
    }
    expect(bodies[0]!.equals(max)).toBe(true);
    expect(bodies[1]!.equals(three[0]!)).toBe(true);
    expect(bodies[2]!.equals(three[1]!)).toBe(true);

    // A lookup keeps the newest that fit, oldest first, and says it left some out.
    const byKey = await call('GET', '/v1/topics/big/messages/by-key/k', '');
    expect(byKey.status).toBe(200);
    expect(byKey.resultBytes).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    expect(byKey.body.truncated).toBe(true);
    expect(byKey.body.messages.map((m: { queueOffset: number }) => m.queueOffset)).toEqual([2]);
    expect(Buffer.from(byKey.body.messages[0].body, 'base64').equals(three[1]!)).toBe(true);

    // A receive (its answer is written as bytes) comes out of the Lambda as JSON text that fits
    // a result: the 4 MiB message alone; the two leased beside it are released for the next.
    expect((await call('PUT', '/v1/groups/lambda-readers', '', JSON.stringify({ consumeFrom: 'earliest' }))).status).toBe(201);
    const receive = () => call('POST', '/v1/topics/big/groups/lambda-readers/receive', '', JSON.stringify({ max: 32 }));
    const got = await receive();
    expect(got.status).toBe(200);
    expect(got.resultBytes).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    expect(got.body.messages.map((m: { queueOffset: number }) => m.queueOffset)).toEqual([0]);
    expect(Buffer.from(got.body.messages[0].body, 'base64').equals(max)).toBe(true);
    const acked = await call('POST', '/v1/topics/big/groups/lambda-readers/ack', '', JSON.stringify({ receiptHandles: [got.body.messages[0].receiptHandle] }));
    expect(acked.body).toEqual({ results: [{ status: 'OK' }] });
    expect((await receive()).body.messages.map((m: { queueOffset: number }) => m.queueOffset)).toEqual([1]);

    // As POP_PARTS (the SDK's Accept): binary, so the result carries it base64, capped alike:
    // the 4 MiB message alone again; what was leased beside it is released for the next receive.
    expect((await call('PUT', '/v1/groups/lambda-binary', '', JSON.stringify({ consumeFrom: 'earliest' }))).status).toBe(201);
    const receiveParts = async () => {
      const event = httpApiEvent('POST', '/v1/topics/big/groups/lambda-binary/receive', '', JSON.stringify({ max: 32 }), false, { accept: POP_PARTS_TYPE });
      const res = (await handler(event as never)) as { statusCode: number; body: string; isBase64Encoded: boolean; headers: Record<string, string> };
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(POP_PARTS_TYPE);
      expect(res.isBase64Encoded).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
      return decodePopParts(Buffer.from(res.body, 'base64'));
    };
    const parts = await receiveParts();
    expect(parts.map((m) => m.queueOffset)).toEqual([0]);
    expect(parts[0]!.body.equals(max)).toBe(true);
    expect((await receiveParts()).map((m) => m.queueOffset)).toEqual([1]);
  });
});
