/**
 * The gRPC endpoint as AWS serves it (infra/lib/constructs/grpc-proxy-service.ts): a load
 * balancer ends TLS, negotiates h2 by ALPN, and hands the proxy's port the plain HTTP/2 bytes.
 * Here a local TLS terminator (node:tls, piping each connection to the proxy) stands in for
 * the NLB's TLS listener, in front of a real cluster (NameServer, two brokers, gateway, gRPC
 * proxy as processes); the official client runs with TLS on (sslEnabled), trusting the test's
 * certificate, in a process of its own. It sends 20 messages, receives and acks each of them,
 * and every connection it made negotiated h2 by ALPN: what the listener's HTTP2Only policy
 * demands (grpc-java and grpc-go refuse a TLS server that negotiates no ALPN; the Node client
 * does not check, so the policy is asserted in test/cdk/grpc-proxy-stack.test.ts).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

const CLIENT = path.resolve(import.meta.dirname, '../support/grpc-tls-client.ts');

let cluster: LocalCluster;
let dir: string;
let key: Buffer;
let cert: Buffer;
const closers: (() => void)[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-grpc-tls-'));
  // A self-signed certificate for localhost: the test's own certificate authority.
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
    '-keyout',
    path.join(dir, 'key.pem'),
    '-out',
    path.join(dir, 'cert.pem'),
  ]);
  key = fs.readFileSync(path.join(dir, 'key.pem'));
  cert = fs.readFileSync(path.join(dir, 'cert.pem'));
  cluster = await startTestCluster({ grpcProxy: true });
  expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: 'tls', queues: 4 })).status).toBe(201);
  expect((await api(cluster.gatewayUrl, 'PUT', '/v1/groups/tls', { consumeFrom: 'earliest' })).status).toBe(201);
}, 90_000);

afterAll(async () => {
  for (const close of closers) close();
  await stopTestCluster(cluster);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A TLS listener that offers only h2 by ALPN and pipes each connection to the proxy's plain port, as the NLB does. */
async function tlsTerminator(): Promise<{ port: number; negotiated: (string | false | null)[] }> {
  const proxyPort = Number(cluster.grpcProxyEndpoint!.split(':').at(-1));
  const negotiated: (string | false | null)[] = [];
  const server = tls.createServer({ key, cert, ALPNProtocols: ['h2'] }, (client) => {
    negotiated.push(client.alpnProtocol);
    const upstream = net.connect(proxyPort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, negotiated };
}

/** The official client (TLS on) in its own process, trusting the test's certificate. */
function runClient(
  port: number,
  topic: string,
  count: number,
): Promise<{ code: number | null; answer: { sent?: number; received?: string[]; error?: string; log?: string[] } }> {
  const child = spawn(
    process.execPath,
    ['--conditions=cirrusmq-source', '--import', 'tsx', CLIENT, JSON.stringify({ endpoints: `localhost:${port}`, topic, group: topic, count })],
    { env: { ...process.env, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: path.join(dir, 'cert.pem') }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      let answer: { sent?: number; received?: string[]; error?: string; log?: string[] };
      try {
        answer = JSON.parse(last);
      } catch {
        answer = { error: `no answer; stdout ${out.slice(-500)} stderr ${err.slice(-500)}` };
      }
      resolve({ code, answer });
    }),
  );
}

describe('the gRPC endpoint behind a TLS-terminating load balancer', () => {
  it('serves the official client with TLS on, over connections that negotiated h2 by ALPN', async () => {
    const { port, negotiated } = await tlsTerminator();
    const { code, answer } = await runClient(port, 'tls', 20);
    expect(answer.error, JSON.stringify(answer)).toBeUndefined();
    expect(code).toBe(0);
    expect([...answer.received!].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `tls-${i}`).sort());
    expect(negotiated.length).toBeGreaterThan(0);
    expect(negotiated.filter((p) => p !== 'h2')).toEqual([]);
  }, 90_000);
});
