/**
 * The SDK as a user gets it: `npm pack -w client` (its prepack builds dist/ with tsc), the
 * tarball installed into a scratch Node project (type module, no tsx, no TypeScript), and a
 * plain `node` script that imports '@cirrusmq/client' and talks to a real cluster: the
 * Producer (direct to the brokers) and the HttpProducer (over the gateway) send, the
 * GatewayClient reads everything back. `npx cirrusmq --help` runs the package's bin.
 *
 * Offline: the package has no dependencies, so it installs with --offline and neither CI nor
 * this test needs the registry.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
// The scratch project must not find the repo's node_modules by walking up: it lives in os.tmpdir().
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-sdk-package-'));
const app = path.join(scratch, 'app');
const npmOpts = { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 };

let cluster: LocalCluster;
beforeAll(async () => {
  const [, packed] = await Promise.all([
    startTestCluster({ brokers: ['broker-a'] }).then((c) => (cluster = c)),
    (async () => {
      // prepack builds client/dist; a repo without one stays so, where a process missing the
      // cirrusmq-source condition then fails at once instead of running a stale build.
      const hadDist = fs.existsSync(path.join(ROOT, 'client/dist'));
      const client = await run('npm', ['pack', '-w', 'client', '--pack-destination', scratch, '--json'], npmOpts).finally(() => {
        if (!hadDist) fs.rmSync(path.join(ROOT, 'client/dist'), { recursive: true, force: true });
      });
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
      const tarballs = [client].map((r) => path.join(scratch, JSON.parse(r.stdout)[0].filename));
      await run('npm', ['install', ...tarballs, '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { ...npmOpts, cwd: app });
      return tarballs;
    })(),
  ]);
  expect(packed).toHaveLength(1);
}, 180_000);
afterAll(async () => {
  await stopTestCluster(cluster);
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** What the plain-node script saw, as JSON on its stdout. */
const SCRIPT = `
import { CirrusError, GatewayClient, HttpProducer, Producer } from '@cirrusmq/client';
const [nameServer, gatewayUrl] = process.argv.slice(2);
const topic = 'sdk-orders';
const gateway = new GatewayClient(gatewayUrl);
await gateway.createTopic(topic, 1);
const out = { sent: [], errors: {} };

const producer = new Producer({ nameServer });
out.sent.push((await producer.send({ topic, body: 'direct-1', keys: ['k1'] })).queueOffset);
out.sent.push(...(await producer.sendBatch([{ topic, body: 'direct-2' }, { topic, body: new TextEncoder().encode('direct-3') }])).map((r) => r.queueOffset));
producer.shutdown();

const http = new HttpProducer(gatewayUrl);
out.sent.push((await http.send({ topic, body: 'http-1', tags: 'TagA' })).queueOffset);
out.sent.push(...(await http.sendBatch([{ topic, body: 'http-2' }, { topic, body: new Uint8Array([0, 255, 7]) }])).map((r) => r.queueOffset));
out.sent.push(await new Promise((resolve, reject) => http.sendAsync({ topic, body: 'http-async' }, (e, r) => (e ? reject(e) : resolve(r.queueOffset)))));
http.sendOneway({ topic, body: 'http-oneway' });
for (const [name, send] of [
  ['unknownTopic', () => http.send({ topic: 'sdk-no-such-topic', body: 'x' })],
  ['mixedTopics', () => http.sendBatch([{ topic, body: 'a' }, { topic: 'other', body: 'b' }])],
  ['empty', () => http.sendBatch([])],
]) {
  try { await send(); out.errors[name] = 'no error'; } catch (e) { out.errors[name] = e instanceof CirrusError ? e.code : String(e); }
}

// The oneway send is acknowledged before it is stored: read until it is there.
const deadline = Date.now() + 20_000;
let read;
do {
  read = await gateway.read(topic, 'broker-a', 0, 0, 100);
} while (read.messages.length < 8 && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 100)), true));
out.read = read.messages.map((m) => ({ offset: m.queueOffset, body: m.body, enc: m.bodyEncoding, tags: m.tags, keys: m.keys }));
http.shutdown();
gateway.close();
console.log(JSON.stringify(out));
`;

describe('@cirrusmq/client as an installed package', () => {
  it('installs as ESM JavaScript with types and no source, server or AWS dependencies', () => {
    const pkgDir = path.join(app, 'node_modules/@cirrusmq/client');
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    // No dependencies at all: plain Node's net and crypto carry it.
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
    for (const entry of ['index', 'protocol', 'server']) {
      expect(fs.existsSync(path.join(pkgDir, `dist/${entry}.js`))).toBe(true);
      expect(fs.existsSync(path.join(pkgDir, `dist/${entry}.d.ts`))).toBe(true);
    }
    expect(fs.existsSync(path.join(pkgDir, 'src'))).toBe(false);
    expect(fs.readdirSync(path.join(app, 'node_modules')).sort()).toEqual(['.bin', '.package-lock.json', '@cirrusmq']);
  });

  it('sends with Producer and HttpProducer and reads back, from plain node', async () => {
    fs.writeFileSync(path.join(app, 'use-sdk.mjs'), SCRIPT);
    const { stdout } = await run(process.execPath, ['use-sdk.mjs', cluster.nameServerUrl, cluster.gatewayUrl], { cwd: app, timeout: 60_000 });
    const out = JSON.parse(stdout);
    expect(out.sent).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(out.errors).toEqual({ unknownTopic: 'TOPIC_NOT_FOUND', mixedTopics: 'INVALID_MESSAGE', empty: 'EMPTY_BATCH' });
    expect(out.read).toEqual([
      { offset: 0, body: 'direct-1', enc: 'utf8', keys: ['k1'] },
      { offset: 1, body: 'direct-2', enc: 'utf8', keys: [] },
      { offset: 2, body: 'direct-3', enc: 'utf8', keys: [] },
      { offset: 3, body: 'http-1', enc: 'utf8', tags: 'TagA', keys: [] },
      { offset: 4, body: 'http-2', enc: 'utf8', keys: [] },
      { offset: 5, body: Buffer.from([0, 255, 7]).toString('base64'), enc: 'base64', keys: [] },
      { offset: 6, body: 'http-async', enc: 'utf8', keys: [] },
      { offset: 7, body: 'http-oneway', enc: 'utf8', keys: [] },
    ]);
    // and the gateway agrees on what is stored
    expect((await api(cluster.gatewayUrl, 'GET', '/v1/topics/sdk-orders')).status).toBe(200);
  });

  it('runs the CLI as the package bin: npx cirrusmq', async () => {
    const help = await run('npx', ['--no-install', 'cirrusmq', '--help'], { cwd: app, timeout: 30_000 });
    expect(help.stdout).toContain('Usage: cirrusmq <command>');
    const listed = await run('npx', ['--no-install', 'cirrusmq', 'topic', 'list', '--gateway', cluster.gatewayUrl, '--json'], { cwd: app, timeout: 30_000 });
    expect(JSON.parse(listed.stdout).map((t: { topic: string }) => t.topic)).toContain('sdk-orders');
  });
});
