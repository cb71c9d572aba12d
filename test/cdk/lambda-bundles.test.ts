/**
 * The Lambda bundles load and work: the NameServer and gateway handlers are built with the
 * NodejsFunction's esbuild options, loaded with require() as the Lambda runtime does, and
 * called with the events AWS gives them — API Gateway v2 for the gateway, the load balancer's
 * events for the NameServer — against a local cluster laid out as in the cloud:
 *
 *   gateway bundle ──(API GW v2 events)   broker (the image's bundle, a process)
 *        │   └───────────── tcp ──────────────> │
 *        └──> ALB stand-in ──(ALB events)──> NameServer bundle (embedded backend)
 *                  ^─────── register/heartbeat ─┘
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { albEvent, startAlbLambdaServer, type LambdaHandler } from './support/alb-lambda-server';
import { buildBrokerBundle, buildLambdaBundle } from './support/bundles';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const nodeRequire = createRequire(import.meta.url);
let dir: string;
let nameServer: LambdaHandler;
let gateway: LambdaHandler;
let alb: Awaited<ReturnType<typeof startAlbLambdaServer>>;
let broker: ChildProcess | undefined;
let brokerLog = '';

interface Result {
  statusCode: number;
  body: string;
  headers?: Record<string, string>;
}

function httpApiEvent(method: string, rawPath: string, rawQueryString = '', body?: string, isBase64Encoded = false) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'content-type': 'application/json' },
    body: body ?? null,
    isBase64Encoded,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
  };
}

async function callGateway(...args: Parameters<typeof httpApiEvent>) {
  const r = (await gateway(httpApiEvent(...args), {})) as Result;
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

async function callNameServerThroughAlb(method: string, url: string, body?: unknown) {
  const r = (await nameServer(
    albEvent(
      method,
      url,
      { host: 'internal-ns.elb.amazonaws.com', 'content-type': 'application/json' },
      body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    ),
    {},
  )) as Result;
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-bundles-'));
  const [nsFile, gwFile] = await Promise.all([
    buildLambdaBundle('nameServerHandler', dir),
    buildLambdaBundle('gatewayHandler', dir),
    buildBrokerBundle(path.join(dir, 'broker')),
  ]);

  // Read at module load by each bundle's config.ts, as in a Lambda's init phase.
  vi.stubEnv('CIRRUSMQ_ROUTE_BACKEND', 'embedded');
  vi.stubEnv('CIRRUSMQ_DATA_DIR', path.join(dir, 'nameserver-data'));
  vi.stubEnv('CIRRUSMQ_LOG_LEVEL', 'error');
  nameServer = (nodeRequire(nsFile) as { handler: LambdaHandler }).handler;
  alb = await startAlbLambdaServer(nameServer);

  broker = spawn(process.execPath, ['entrypoint.mjs'], {
    cwd: path.join(dir, 'broker'),
    env: {
      PATH: process.env.PATH,
      CIRRUSMQ_BROKER_NAME: 'broker-a',
      CIRRUSMQ_BROKER_HOST: '127.0.0.1',
      CIRRUSMQ_BROKER_PORT: '0',
      CIRRUSMQ_NAMESRV_ADDR: alb.addr,
      CIRRUSMQ_STORE_DIR: path.join(dir, 'broker-a'),
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(1024 * 1024),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  broker.stdout!.on('data', (d: Buffer) => (brokerLog += d.toString()));
  broker.stderr!.on('data', (d: Buffer) => (brokerLog += d.toString()));

  vi.stubEnv('CIRRUSMQ_NAMESRV_ADDR', alb.addr);
  gateway = (nodeRequire(gwFile) as { handler: LambdaHandler }).handler;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  if (broker && broker.exitCode === null) {
    const exited = new Promise((r) => broker!.once('exit', r));
    broker.kill('SIGTERM');
    await exited;
  }
  await alb?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the NameServer bundle', () => {
  it('answers API Gateway v2 events and load balancer events', async () => {
    const health = (await nameServer(httpApiEvent('GET', '/healthz'), {})) as Result;
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok', pid: expect.any(Number) });

    const missing = await callNameServerThroughAlb('GET', '/v1/topics/nope');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'TOPIC_NOT_FOUND' } } });
  });

  it('registers a broker that calls it over HTTP through the load balancer stand-in', async () => {
    const deadline = Date.now() + 30_000;
    let brokers: { brokerName: string; alive: boolean; brokerAddr?: string }[] = [];
    while (Date.now() < deadline) {
      brokers = (await callNameServerThroughAlb('GET', '/v1/cluster')).body.brokers;
      if (brokers.some((b) => b.brokerName === 'broker-a' && b.alive)) break;
      if (broker?.exitCode !== null) throw new Error(`broker exited:\n${brokerLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(brokers, brokerLog).toEqual([expect.objectContaining({ brokerName: 'broker-a', alive: true })]);
  });
});

describe('the gateway bundle', () => {
  it('creates a topic, sends and reads back through API Gateway events', async () => {
    expect((await callGateway('GET', '/healthz')).status).toBe(200);
    expect((await callGateway('POST', '/v1/topics', '', JSON.stringify({ topic: 'cloud', queues: 1 }))).status).toBe(201);

    // API Gateway hands bodies over base64-encoded when it cannot tell they are text.
    const sendBody = Buffer.from(JSON.stringify({ messages: [{ body: 'from the bundle', tags: 'TagC', keys: ['k1'] }] })).toString('base64');
    const sent = await callGateway('POST', '/v1/topics/cloud/messages', '', sendBody, true);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.results[0]).toMatchObject({ status: 'SEND_OK', broker: 'broker-a', queueId: 0, queueOffset: 0 });

    const read = await callGateway('GET', '/v1/topics/cloud/messages', 'broker=broker-a&queueId=0&offset=0');
    expect(read.body.messages[0]).toMatchObject({ body: 'from the bundle', tags: 'TagC', keys: ['k1'] });

    const route = await callGateway('GET', '/v1/topics/cloud/route');
    expect(route.body).toMatchObject({
      topic: 'cloud',
      brokerDatas: [{ brokerName: 'broker-a', brokerAddrs: { '0': expect.stringMatching(/^127\.0\.0\.1:\d+$/) } }],
    });
  });

  it('answers errors as JSON with their status', async () => {
    expect(await callGateway('POST', '/v1/topics/cloud/messages', '', '{"messages": [')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_JSON' } },
    });
    expect(await callGateway('GET', '/v1/topics/nowhere')).toMatchObject({ status: 404, body: { error: { code: 'TOPIC_NOT_FOUND' } } });
  });
});
