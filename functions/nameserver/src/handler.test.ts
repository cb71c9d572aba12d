/** The Lambda entry: same app behind hono/aws-lambda, route table built at cold start. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-lambda-'));
  vi.stubEnv('CIRRUSMQ_ROUTE_BACKEND', 'embedded');
  vi.stubEnv('CIRRUSMQ_DATA_DIR', dataDir);
  vi.stubEnv('CIRRUSMQ_LOG_LEVEL', 'error');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await rm(dataDir, { recursive: true, force: true });
});

function httpApiEvent(method: string, rawPath: string, body?: unknown) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: { host: 'ns.example.com', 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'ns.example.com',
      domainPrefix: 'ns',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'r1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2025:00:00:00 +0000',
      timeEpoch: 0,
    },
  };
}

describe('Lambda handler', () => {
  it('answers API Gateway HTTP API events', async () => {
    const { handler } = await import('./handler');
    const health = await handler(httpApiEvent('GET', '/healthz') as never);
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok', pid: process.pid });

    const missing = await handler(httpApiEvent('GET', '/v1/topics/nope') as never);
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'TOPIC_NOT_FOUND' } });
  });
});
