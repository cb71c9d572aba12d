/**
 * The SDK's side of remoting against small servers of the test's own: an older broker that
 * refuses the upgrade (HTTP fallback), a broker that is not there, one whose connection dies
 * with requests in flight (each fails BROKER_UNAVAILABLE, the next call reconnects), and a
 * script that never closes its client still exits.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../infra/local/wait-for';
import { BrokerClient } from '../api/broker-client';
import { CirrusError } from '../errors';
import { BrokerTransport } from './broker-transport';
import { encodeResponseHead, FrameDecoder, FrameType, REMOTING_PATH, REMOTING_UPGRADE, type RequestFrame } from './remoting-frame';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A remoting server whose answers the test writes: `onRequest` gets each frame and its socket. */
function remotingServer(onRequest: (f: RequestFrame, socket: Duplex, answer: (status: number, body: string) => void) => void) {
  const sockets: Duplex[] = [];
  const server = http.createServer((_req, res) => res.writeHead(500).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    expect([req.url, req.headers.upgrade]).toEqual([REMOTING_PATH, REMOTING_UPGRADE]);
    sockets.push(socket);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${REMOTING_UPGRADE}\r\n\r\n`);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type !== FrameType.REQUEST) continue;
        onRequest(f, socket, (status, body) => {
          socket.write(Buffer.concat([encodeResponseHead(f.id, status, { 'content-type': 'application/json' }, Buffer.byteLength(body)), Buffer.from(body)]));
        });
      }
    });
  });
  return { server, sockets };
}

const progress = (c: BrokerClient) => c.progress('T', 'g');
const PROGRESS = JSON.stringify({ topic: 'T', group: 'g', queues: [] });

describe('BrokerTransport', () => {
  it('an older broker refuses the upgrade (404): the calls go over HTTP, and the upgrade is not asked again at once', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.upgrade ?? ''}`.trim());
      if (req.url === REMOTING_PATH) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NOT_FOUND","message":"no route"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(PROGRESS);
    });
    const client = new BrokerClient(await listen(server));
    try {
      expect(await progress(client)).toEqual(JSON.parse(PROGRESS));
      expect(await progress(client)).toEqual(JSON.parse(PROGRESS));
      expect(seen).toEqual([
        `GET ${REMOTING_PATH} ${REMOTING_UPGRADE}`,
        'GET /v1/consume/progress?topic=T&group=g',
        'GET /v1/consume/progress?topic=T&group=g',
      ]);
    } finally {
      client.close();
    }
  });

  it('a server that never answers the upgrade (it took it for something else) is used over HTTP after a second', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === REMOTING_PATH) return; // parked, like a long poll that never ends
      res.writeHead(200, { 'content-type': 'application/json' }).end(PROGRESS);
    });
    const client = new BrokerClient(await listen(server));
    try {
      expect(await progress(client)).toEqual(JSON.parse(PROGRESS));
      expect(client.transport()).toBe('http');
    } finally {
      client.close();
    }
  });

  it("transport 'http' never asks for the upgrade", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url!);
      res.writeHead(200, { 'content-type': 'application/json' }).end(PROGRESS);
    });
    server.on('upgrade', () => seen.push('upgrade'));
    const client = new BrokerClient(await listen(server), { transport: 'http' });
    try {
      await progress(client);
      expect(seen).toEqual(['/v1/consume/progress?topic=T&group=g']);
    } finally {
      client.close();
    }
  });

  it('no broker there: BROKER_UNAVAILABLE, as over HTTP', async () => {
    const server = http.createServer();
    const addr = await listen(server);
    server.close();
    await new Promise((r) => server.once('close', r));
    const client = new BrokerClient(addr);
    try {
      const e = await progress(client).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CirrusError);
      expect((e as CirrusError).code).toBe('BROKER_UNAVAILABLE');
    } finally {
      client.close();
    }
  });

  it('the connection dies with requests in flight: each fails BROKER_UNAVAILABLE (retriable); the next call reconnects', async () => {
    let held = 0;
    const { server, sockets } = remotingServer((f, socket, answer) => {
      // The first connection holds its requests and is cut at the fifth; later ones answer.
      if (sockets.indexOf(socket) === 0) {
        if (++held === 5) socket.destroy();
        return;
      }
      answer(200, f.target.startsWith('/v1/consume/progress') ? PROGRESS : '{}');
    });
    const client = new BrokerClient(await listen(server));
    try {
      const inFlight = Array.from({ length: 5 }, () => progress(client).catch((x: unknown) => x));
      const errors = await Promise.all(inFlight);
      for (const e of errors) {
        expect(e).toBeInstanceOf(CirrusError);
        expect((e as CirrusError).code).toBe('BROKER_UNAVAILABLE');
        expect((e as CirrusError).retriable).toBe(true);
      }
      expect(await progress(client)).toEqual(JSON.parse(PROGRESS));
      expect(sockets).toHaveLength(2);
    } finally {
      client.close();
    }
  });

  it('a late answer is a TIMEOUT and a cancel frame tells the broker; the connection serves on', async () => {
    const cancelled: number[] = [];
    let first = true;
    const sockets: Duplex[] = [];
    const server = http.createServer();
    server.on('upgrade', (_req, socket: Duplex) => {
      sockets.push(socket);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${REMOTING_UPGRADE}\r\n\r\n`);
      const decoder = new FrameDecoder(1 << 20);
      socket.on('data', (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) {
          if (f.type === FrameType.CANCEL) cancelled.push(f.id);
          if (f.type !== FrameType.REQUEST) continue;
          // The first request is never answered; the rest at once.
          if (first) {
            first = false;
            continue;
          }
          socket.write(Buffer.concat([encodeResponseHead(f.id, 200, {}, 2), Buffer.from('{}')]));
        }
      });
    });
    const t = new BrokerTransport(await listen(server));
    try {
      const slow = t.request({ method: 'GET', path: '/slow', timeoutMs: 300 }).catch((x: unknown) => x);
      // Traffic meanwhile: the connection is alive, only the request is late.
      for (let i = 0; i < 3; i++) expect((await t.request({ method: 'GET', path: '/fast' })).status).toBe(200);
      const e = await slow;
      expect((e as CirrusError).code).toBe('TIMEOUT');
      await waitFor('the cancel frame', 5_000, async () => cancelled.length === 1, 5);
      expect(cancelled).toEqual([1]);
      expect((await t.request({ method: 'GET', path: '/fast' })).status).toBe(200);
      expect(sockets).toHaveLength(1);
    } finally {
      t.close();
    }
  });

  it('a connection that goes silent (a host gone without a reset) is given up after a probe; a slow broker answering the probe keeps it', async () => {
    // Silent: the first connection answers nothing at all; later ones answer everything.
    const silent = remotingServer((_f, socket, answer) => {
      if (silent.sockets.indexOf(socket) > 0) answer(200, '{}');
    });
    const t = new BrokerTransport(await listen(silent.server));
    try {
      const long = t.request({ method: 'GET', path: '/long', timeoutMs: 60_000 }).catch((x: unknown) => x);
      const t0 = Date.now();
      expect(await t.request({ method: 'GET', path: '/short', timeoutMs: 200 }).catch((x: unknown) => (x as CirrusError).code)).toBe('TIMEOUT');
      // The probe's 3 s, not the long request's 60 s.
      expect(((await long) as CirrusError).code).toBe('BROKER_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect((await t.request({ method: 'GET', path: '/again' })).status).toBe(200);
      expect(silent.sockets).toHaveLength(2);
    } finally {
      t.close();
    }

    // Slow: /healthz is answered, the rest held; the long request lives on past the short one's timeout.
    const held: (() => void)[] = [];
    const slow = remotingServer((f, _socket, answer) => {
      if (f.target === '/healthz') answer(200, '{}');
      else held.push(() => answer(200, '{"late":true}'));
    });
    const t2 = new BrokerTransport(await listen(slow.server));
    try {
      const long = t2.request({ method: 'GET', path: '/long', timeoutMs: 60_000 });
      expect(await t2.request({ method: 'GET', path: '/short', timeoutMs: 200 }).catch((x: unknown) => (x as CirrusError).code)).toBe('TIMEOUT');
      await waitFor('the probe answered', 10_000, async () => held.length === 2 && slow.sockets.length === 1, 5);
      held[0]!();
      expect((await long).body.toString()).toBe('{"late":true}');
      expect(slow.sockets).toHaveLength(1);
    } finally {
      t2.close();
    }
  });

  it('close() as over HTTP: a call in flight is still answered, a later one fails, then the connection ends', async () => {
    const held: (() => void)[] = [];
    const { server, sockets } = remotingServer((_f, _socket, answer) => held.push(() => answer(200, PROGRESS)));
    const client = new BrokerClient(await listen(server));
    const inFlight = progress(client);
    await waitFor('the call at the server', 5_000, async () => held.length === 1, 5);
    client.close();
    expect(((await progress(client).catch((x: unknown) => x)) as CirrusError).code).toBe('BROKER_UNAVAILABLE');
    const closed = new Promise((r) => sockets[0]!.once('end', r));
    held[0]!();
    expect(await inFlight).toEqual(JSON.parse(PROGRESS));
    await closed;
  });

  it('a script that never closes its client still exits once its calls are answered', async () => {
    const { server } = remotingServer((_f, _s, answer) => answer(200, PROGRESS));
    const addr = await listen(server);
    const script = `import { BrokerClient } from '@cirrusmq/client/protocol';
const c = new BrokerClient(${JSON.stringify(addr)});
console.log(JSON.stringify(await c.progress('T', 'g')));`;
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (c) => {
        clearTimeout(kill);
        resolve(c);
      });
    });
    expect(out.trim()).toBe(PROGRESS);
    expect(code).toBe(0);
  });
});
