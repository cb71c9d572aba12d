/**
 * Which requests the hot-route listener answers itself and which it hands to Hono: a listener
 * that answered nothing itself would pass every answer-comparison test
 * (test/e2e/gateway-hot-routes.test.ts compares the answers against brokers). No broker or
 * NameServer here: the requests are refused on their input before any is called.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayApp } from './app';
import { loadGatewayConfig } from './config';
import { createGatewayDeps } from './create-deps';
import { hotRouter, hotRoutesListener } from './hot-routes';

const deps = createGatewayDeps(loadGatewayConfig({ CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:1', CIRRUSMQ_LOG_LEVEL: 'error' }));
const app = createGatewayApp(deps);
const honoListener = getRequestListener(app.fetch);
/** Request targets Hono was handed. */
const handedOver: string[] = [];
const server = http.createServer(
  hotRoutesListener(hotRouter(deps), (req, res) => {
    handedOver.push(`${req.method} ${req.url}`);
    return honoListener(req, res);
  }),
);
let port = 0;
const agent = new http.Agent({ keepAlive: true });

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  agent.destroy();
  await new Promise((resolve) => server.close(resolve));
  deps.producer.shutdown();
  deps.brokers.close();
});

function request(method: string, path: string, body = '[', host = `127.0.0.1:${port}`): Promise<{ status: number; type?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent, headers: ['host', host, 'content-type', 'application/json', 'content-length', String(body.length)] },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The request's answer, and whether Hono was handed it. */
async function served(method: string, path: string, host?: string) {
  const before = handedOver.length;
  const answer = await request(method, path, '[', host);
  return { answer, byHono: handedOver.length > before };
}

describe('the hot-route listener', () => {
  it.each([
    '/v1/topics/orders/messages',
    '/v1/topics/orders/messages?mode=oneway',
    '/v1/topics/orders/messages?mode=bad',
    '/v1/topics/orders/groups/billing/receive',
    '/v1/topics/orders/groups/billing/receive?x=1',
    '/v1/topics/orders/groups/billing/ack',
    '/v1/topics/orders/groups/billing/change-invisibility',
  ])('answers POST %s itself, as Hono does', async (path) => {
    const { answer, byHono } = await served('POST', path);
    expect(byHono).toBe(false);
    const viaHono = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[' });
    expect(answer).toEqual({ status: viaHono.status, type: viaHono.headers.get('content-type')!, text: await viaHono.text() });
  });

  it('answers for a host @hono/node-server parses with the URL parser (upper case, a port above 59999)', async () => {
    for (const host of ['LOCALHOST:8080', 'localhost:65000', '[::1]:8080']) {
      const { answer, byHono } = await served('POST', '/v1/topics/orders/messages', host);
      expect(byHono, host).toBe(false);
      expect(answer.status).toBe(400);
    }
  });

  it.each([
    ['GET', '/v1/topics/orders/messages'],
    ['HEAD', '/v1/topics/orders/messages'],
    ['PUT', '/v1/topics/orders/messages'],
    ['DELETE', '/v1/topics/orders/groups/billing/ack'],
    ['POST', '/v1/topics/%25RETRY%25orders/messages'],
    ['POST', '/v1/topics/or%64ers/groups/billing/receive'],
    ['POST', '/v1/topics/orders/messages/'],
    ['POST', '/v1/topics//messages'],
    ['POST', '/v1/topics/orders/groups//ack'],
    ['POST', '/v1/topics/orders/groups/billing/nack'],
    ['POST', '/v1/topics/./messages'],
    ['POST', '/v1/topics/orders/groups/../receive'],
    ['POST', '/v1/topics'],
    ['POST', '/v1/groups/billing/dlq/redrive'],
  ])('hands %s %s to Hono', async (method, path) => {
    expect((await served(method, path)).byHono).toBe(true);
  });

  it('hands a request with a host @hono/node-server refuses to Hono (400)', async () => {
    const { answer, byHono } = await served('POST', '/v1/topics/orders/messages', 'a@b');
    expect(byHono).toBe(true);
    expect(answer.status).toBe(400);
  });
});
