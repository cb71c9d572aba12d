/**
 * HttpClient against real servers: node:http (Content-Length and chunked answers, keep-alive,
 * Connection: close) and raw sockets that split, stall, or cut an answer.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { CirrusError } from '../errors.js';
import { decodeChunked } from './http1-connection.js';
import { HttpClient } from './http-client.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        (server as http.Server).closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(addr: string, options: { maxSockets?: number; timeoutMs?: number } = {}, ca?: Buffer): HttpClient {
  const c = new HttpClient(addr, { ...options, ca });
  closers.push(async () => c.close());
  return c;
}

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return (e as CirrusError).code;
  }
};

describe('HttpClient', () => {
  it('sends bodies and reads Content-Length, chunked and empty answers, reusing one keep-alive connection', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/chunked') {
          res.write('ab');
          setImmediate(() => res.end('cdé'));
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else {
          res.writeHead(201, { 'content-type': 'application/json', 'x-seen': String(body.length), 'set-cookie': ['a=1', 'b=2'] });
          res.end(JSON.stringify({ method: req.method, url: req.url, type: req.headers['content-type'], body: req.url === '/big' ? '' : body.toString() }));
        }
      });
    });
    server.on('connection', () => connections++);
    const c = client(await listen(server));
    const a = await c.request({ method: 'POST', path: '/x?y=1', body: 'héllo' });
    expect(a.status).toBe(201);
    expect(JSON.parse(a.body.toString())).toEqual({ method: 'POST', url: '/x?y=1', type: 'application/json', body: 'héllo' });
    expect(a.headers['x-seen']).toBe('6');
    expect(a.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect((await c.request({ method: 'GET', path: '/chunked' })).body.toString()).toBe('abcdé');
    const empty = await c.request({ method: 'DELETE', path: '/empty' });
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
    expect(await c.json('PUT', '/j', { k: [1, 2] })).toMatchObject({ method: 'PUT', body: '{"k":[1,2]}' });
    const big = Buffer.alloc(3 << 20, 7);
    // Told by its length (x-seen): echoed as JSON, 3 MiB of \u0007 would be an 18 MiB answer, slow on a busy machine.
    expect((await c.request({ method: 'POST', path: '/big', body: big, contentType: 'application/octet-stream' })).headers['x-seen']).toBe(String(big.length));
    expect(connections).toBe(1);
  });

  it('opens at most maxSockets connections and queues the rest', async () => {
    let open = 0;
    let most = 0;
    const server = http.createServer((_req, res) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        res.end('ok');
      }, 20);
    });
    const c = client(await listen(server), { maxSockets: 3 });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => c.request({ method: 'GET', path: `/${i}` })));
    expect(answers.every((a) => a.body.toString() === 'ok')).toBe(true);
    expect(most).toBe(3);
  });

  it('reads an answer split byte by byte, one that ends with the connection, and honours Connection: close', async () => {
    // Each answer closes its connection (so each request here opens a new one): with a length,
    // with no length (the body runs until the close), and chunked.
    const answers = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\n\r\nuntil close',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
    ];
    let n = 0;
    const server = net.createServer((socket) => {
      socket.once('data', async () => {
        for (const byte of Buffer.from(answers[n++ % answers.length]!)) {
          socket.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
        socket.end();
      });
    });
    const c = client(await listen(server));
    expect((await c.request({ method: 'GET', path: '/' })).body.toString()).toBe('hello');
    expect((await c.request({ method: 'GET', path: '/' })).body.toString()).toBe('until close');
    expect((await c.request({ method: 'GET', path: '/' })).body.toString()).toBe('abcde');
  });

  it('times out a stalled answer with TIMEOUT, fails a cut one and a refused connection as BROKER_UNAVAILABLE, and keeps serving', async () => {
    let mode = 'stall';
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        if (mode === 'stall') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        else if (mode === 'cut') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        else if (mode === 'garbage') socket.end('SMTP ready\r\n\r\n');
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    const addr = await listen(server);
    const c = client(addr, { timeoutMs: 300 });
    expect(await codeOf(c.request({ method: 'GET', path: '/' }))).toBe('TIMEOUT');
    mode = 'cut';
    expect(await codeOf(c.request({ method: 'GET', path: '/' }))).toBe('BROKER_UNAVAILABLE');
    mode = 'garbage';
    expect(await codeOf(c.request({ method: 'GET', path: '/' }))).toBe('INTERNAL');
    mode = 'ok';
    expect((await c.request({ method: 'GET', path: '/' })).body.toString()).toBe('ok');
    c.close();
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    expect(await codeOf(client(`127.0.0.1:${port}`).request({ method: 'GET', path: '/' }))).toBe('BROKER_UNAVAILABLE');
  });

  it('ends an exchange when its signal aborts (rejecting with the reason), and serves the next request', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('late'), 5_000);
      else res.end('now');
    });
    const c = client(await listen(server));
    const abort = new AbortController();
    const slow = c.request({ method: 'GET', path: '/slow', signal: abort.signal });
    setTimeout(() => abort.abort(new Error('stop')), 50);
    await expect(slow).rejects.toThrow('stop');
    await expect(c.request({ method: 'GET', path: '/', signal: abort.signal })).rejects.toThrow('stop');
    expect((await c.request({ method: 'GET', path: '/' })).body.toString()).toBe('now');
  });

  it('speaks https, trusting a given certificate authority, and refuses a certificate it does not trust', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-https-'));
    closers.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ]);
    const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert }, (req, res) => res.end(`secure ${req.url}`));
    const addr = await listen(server);
    const c = client(`https://${addr}`, {}, cert);
    expect((await c.request({ method: 'GET', path: '/a' })).body.toString()).toBe('secure /a');
    expect((await c.request({ method: 'POST', path: '/b', body: 'x' })).body.toString()).toBe('secure /b');
    expect(await codeOf(client(`https://${addr}`).request({ method: 'GET', path: '/' }))).not.toBe('OK');
  });

  it('refuses requests after close()', async () => {
    const server = http.createServer((_req, res) => res.end('x'));
    const c = client(await listen(server));
    await c.request({ method: 'GET', path: '/' });
    c.close();
    expect(await codeOf(c.request({ method: 'GET', path: '/' }))).toBe('BROKER_UNAVAILABLE');
  });

  it('does not keep a process alive with an idle keep-alive connection (a script that never calls close() still exits)', async () => {
    const server = http.createServer((_req, res) => res.end('x'));
    server.keepAliveTimeout = 60_000; // the server never closes it first
    const addr = await listen(server);
    const script = `import { HttpClient } from ${JSON.stringify(path.join(import.meta.dirname, 'http-client.ts'))};
      const r = await new HttpClient(${JSON.stringify(addr)}).request({ method: 'GET', path: '/' });
      console.log(r.body.toString());`;
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the process did not exit within 15 s'));
      }, 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect([code, out.trim()]).toEqual([0, 'x']);
  }, 30_000);
});

describe('decodeChunked', () => {
  it('waits for the last chunk and its blank line', () => {
    const full = Buffer.from('4;ext=1\r\nabcd\r\n1\r\ne\r\n0\r\n\r\n');
    for (let i = 0; i < full.length; i++) expect(decodeChunked(full.subarray(0, i))).toBeUndefined();
    expect(decodeChunked(full)?.toString()).toBe('abcde');
  });
});
