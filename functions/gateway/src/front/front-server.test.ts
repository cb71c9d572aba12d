/**
 * The front server from the client's side, over real sockets: which requests it answers
 * itself and which node:http answers, in order, with the connection kept or closed as node:http
 * would. The hot routes' answers themselves are compared with Hono's against a live cluster in
 * test/e2e/gateway-hot-routes.test.ts (the gateway process runs this server).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HotRoute, HotRouter, WireAnswer } from '../hot-routes';
import { frontServer, nodeExchangeListener } from './front-server';

/** Hot: POST /hot/… (answered here); anything else goes to node:http, which answers "node <method> <url> <body>". */
const served: string[] = [];
let hold: Promise<void> | undefined;
const router: HotRouter = {
  match: (method, url, host) =>
    method === 'POST' && url?.startsWith('/hot') && host !== undefined ? { path: url, call: async () => ({ status: 200, body: '' }) } : undefined,
  async answer(route: HotRoute, readBody, header): Promise<WireAnswer> {
    served.push(`front ${route.path}`);
    if (hold) await hold;
    try {
      const body = await readBody(route.path === '/hot/roomy' ? 1 << 20 : 1024);
      return { status: 200, body: JSON.stringify({ path: route.path, body, accept: header('accept') ?? null }) };
    } catch (e) {
      return { status: 413, body: JSON.stringify({ error: (e as Error).message }) };
    }
  },
  logged: () => {},
  failed: () => {},
};

const node = http.createServer(
  nodeExchangeListener((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      served.push(`node ${req.url}`);
      res.setHeader('Content-Type', 'text/plain');
      res.end(`node ${req.method} ${req.url} ${body}`);
    });
  }),
);
node.keepAliveTimeout = 1_000;
const front = frontServer(router, node);
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  port = (front.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => front.close(resolve));
});

const post = (path: string, body: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** A raw connection: what the server sent, and whether it closed. */
function connect(): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => (text += c));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, received: () => text, closed };
}

/** The answers in `text`, each its status, headers (lower-case names) and body, framed by Content-Length. */
function answers(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [line, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length']);
    if (rest.length < end + 4 + length) break;
    out.push({ status: Number(line!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

async function until<T>(read: () => T, ok: (t: T) => boolean): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const t = read();
    if (ok(t)) return t;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`not reached; last: ${JSON.stringify(read())}`);
}

describe('the front server', () => {
  it('answers a hot route itself, as node:http frames an answer, and keeps the connection', async () => {
    const c = connect();
    c.socket.write(post('/hot/a', '{"x":1}', 'Accept: one\r\nAccept: two\r\n'));
    const [a] = await until(
      () => answers(c.received()),
      (as) => as.length === 1,
    );
    expect(a!.status).toBe(200);
    expect(JSON.parse(a!.body)).toEqual({ path: '/hot/a', body: { x: 1 }, accept: 'one, two' });
    expect(a!.headers).toMatchObject({ 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=1' });
    expect(a!.headers.date).toBe(new Date(Date.parse(a!.headers.date!)).toUTCString());
    c.socket.write(post('/hot/b', '{}'));
    await until(
      () => answers(c.received()),
      (as) => as.length === 2,
    );
    c.socket.destroy();
  });

  it('answers pipelined requests in order, hot ones here and the others by node:http', async () => {
    const c = connect();
    served.length = 0;
    c.socket.write(post('/hot/1', '{"n":1}') + post('/other/2', 'two') + `GET /other/3 HTTP/1.1\r\nHost: h\r\n\r\n` + post('/hot/4', '{"n":4}'));
    const as = await until(
      () => answers(c.received()),
      (as) => as.length === 4,
    );
    expect(as.map((a) => a.body)).toEqual([
      JSON.stringify({ path: '/hot/1', body: { n: 1 }, accept: null }),
      'node POST /other/2 two',
      'node GET /other/3 ',
      JSON.stringify({ path: '/hot/4', body: { n: 4 }, accept: null }),
    ]);
    expect(served).toEqual(['front /hot/1', 'node /other/2', 'node /other/3', 'front /hot/4']);
    c.socket.destroy();
  });

  it('holds the next request until a slow answer is written', async () => {
    const c = connect();
    let release!: () => void;
    hold = new Promise((r) => (release = r));
    c.socket.write(post('/hot/slow', '{}') + post('/other/after', 'x'));
    await until(() => served.includes('front /hot/slow'), Boolean);
    await new Promise((r) => setTimeout(r, 50));
    expect(answers(c.received())).toEqual([]);
    hold = undefined;
    release();
    const as = await until(
      () => answers(c.received()),
      (as) => as.length === 2,
    );
    expect(as[1]!.body).toBe('node POST /other/after x');
    c.socket.destroy();
  });

  it('reads a request that arrives a byte at a time', async () => {
    const c = connect();
    const bytes = Buffer.from(post('/hot/bytes', '{"slow":true}'));
    for (const b of bytes) {
      c.socket.write(Buffer.of(b));
      await new Promise((r) => setImmediate(r));
    }
    const [a] = await until(
      () => answers(c.received()),
      (as) => as.length === 1,
    );
    expect(JSON.parse(a!.body).body).toEqual({ slow: true });
    c.socket.destroy();
  });

  it('joins a large body that arrives in many pieces, the next request behind it', async () => {
    const c = connect();
    const text = 'x'.repeat(300_000);
    const bytes = Buffer.from(post('/hot/roomy', JSON.stringify({ text })) + post('/hot/after', '{}'));
    for (let at = 0; at < bytes.length; at += 3000) {
      c.socket.write(bytes.subarray(at, at + 3000));
      await new Promise((r) => setImmediate(r));
    }
    const as = await until(
      () => answers(c.received()),
      (as) => as.length === 2,
    );
    expect(JSON.parse(as[0]!.body).body.text).toBe(text);
    expect(JSON.parse(as[1]!.body).path).toBe('/hot/after');
    c.socket.destroy();
  });

  it('hands a chunked request and the rest of its connection to node:http', async () => {
    const c = connect();
    served.length = 0;
    c.socket.write('POST /hot/chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' + post('/hot/next', '{}'));
    const as = await until(
      () => answers(c.received()),
      (as) => as.length === 2,
    );
    expect(as.map((a) => a.body)).toEqual(['node POST /hot/chunked abc', 'node POST /hot/next {}']);
    expect(served).toEqual(['node /hot/chunked', 'node /hot/next']);
    c.socket.destroy();
  });

  it('closes after the answer when the client asks to, for a hot route and for node:http', async () => {
    for (const request of [post('/hot/close', '{}', 'Connection: close\r\n'), post('/other/close', 'x', 'Connection: close\r\n')]) {
      const c = connect();
      c.socket.write(request);
      await c.closed;
      const [a] = answers(c.received());
      expect(a!.status).toBe(200);
      expect(a!.headers.connection).toBe('close');
    }
  });

  it('answers what the client sent before it half-closed, then ends', async () => {
    const c = connect();
    c.socket.end(post('/hot/half', '{}'));
    await c.closed;
    expect(answers(c.received())).toHaveLength(1);
  });

  it('leaves garbage and an oversized head to node:http, which refuses them and closes', async () => {
    for (const [bytes, status] of [
      ['NOT HTTP AT ALL\r\n\r\n', 400],
      [`POST /hot/big HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const c = connect();
      c.socket.write(bytes);
      await c.closed;
      expect(c.received()).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    }
  });

  it('lets the route refuse a body over its limit', async () => {
    const c = connect();
    c.socket.write(post('/hot/large', JSON.stringify({ a: 'x'.repeat(2000) })));
    const [a] = await until(
      () => answers(c.received()),
      (as) => as.length === 1,
    );
    expect(a!.status).toBe(413);
    c.socket.destroy();
  });

  it('closes an idle connection after the keep-alive timeout', async () => {
    const c = connect();
    c.socket.write(post('/hot/idle', '{}'));
    await until(
      () => answers(c.received()),
      (as) => as.length === 1,
    );
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });
});
