/**
 * The broker image, without Docker (none here): the Dockerfile's shape, the build it runs
 * (`npm run build:broker`, the same command locally), that the file its CMD runs is in the
 * build output, that the build context the .dockerignore lets through holds every source
 * file the bundle needs, and that the bundle starts, advertises the address the ECS task
 * metadata gives, logs JSON, and exits 0 on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REPO_ROOT } from '../../infra/lib/paths';
import { buildBrokerBundle } from './support/bundles';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const dockerfile = readFileSync(path.join(REPO_ROOT, 'broker-node/Dockerfile'), 'utf8');
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1)!;
/** The runtime stage's CMD, e.g. ["node", "--enable-source-maps", "entrypoint.mjs"]. */
const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];

let dir: string;
let out: string;
let metafile: { inputs: Record<string, unknown> };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-broker-image-'));
  out = path.join(dir, 'app');
  await buildBrokerBundle(out, path.join(dir, 'meta.json'));
  metafile = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('broker-node/Dockerfile', () => {
  it('builds in one stage and runs the bundle in another, as a non-root user', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/^RUN npm run build:broker -- --outdir \/out$/m);
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/^COPY --from=build \/out\/ \/app\/$/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(cmd[0]).toBe('node');
  });

  it('runs a file that the build puts in its output, beside the bundle it loads', () => {
    const entry = cmd.at(-1)!;
    expect(entry).toBe('entrypoint.mjs');
    expect(existsSync(path.join(out, entry))).toBe(true);
    expect(existsSync(path.join(out, 'broker.mjs'))).toBe(true);
  });

  it('gets every source file the bundle is made of through the .dockerignore', () => {
    const patterns = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignore = IgnoreStrategy.docker(REPO_ROOT, patterns);
    const sources = Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
    expect(sources).toContain('broker-node/src/main.ts');
    // COPY's files (its folders are covered by the bundle's sources and the two scripts)
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)]
      .flatMap((m) => m[1]!.split(' '))
      .filter((f) => statSync(path.join(REPO_ROOT, f)).isFile());
    expect(copied).toEqual(['package.json', 'package-lock.json', 'client/package.json', 'tsconfig.json']);
    const needed = [...sources, ...copied, 'broker-node/docker/build.mjs', 'broker-node/docker/entrypoint.mjs'];
    const leftOut = needed.filter((f) => ignore.ignores(path.join(REPO_ROOT, f)));
    expect(leftOut).toEqual([]);
    // and the context stays small: no tests, no other runtimes
    expect(ignore.ignores(path.join(REPO_ROOT, 'functions/gateway/src/app.ts'))).toBe(true);
    expect(ignore.ignores(path.join(REPO_ROOT, 'node_modules/undici/package.json'))).toBe(true);
  });
});

/** A stand-in for the ECS task metadata endpoint v4 (the container's own document). */
async function fakeMetadata(ip: string | undefined) {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ DockerId: 'abc', Name: 'Broker', Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: ip ? [ip] : [] }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v4/abc`, close: () => server.close() };
}

function runEntrypoint(env: Record<string, string>) {
  const child = spawn(process.execPath, cmd.slice(1), {
    cwd: out,
    env: {
      PATH: process.env.PATH,
      CIRRUSMQ_BROKER_NAME: 'broker-a',
      CIRRUSMQ_BROKER_PORT: '0',
      // Nobody listens there: the broker keeps retrying its registration, as it should.
      CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:9',
      CIRRUSMQ_STORE_DIR: path.join(dir, 'store'),
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(1024 * 1024),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines = () =>
    output
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitFor = async (msg: string) => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const line = lines().find((l) => l.msg === msg);
      if (line) return line;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no "${msg}" line; output:\n${output}`);
  };
  return { child, exit, lines, waitFor, output: () => output };
}

describe('the image entrypoint', () => {
  it('advertises the task address from the ECS metadata, logs JSON, and exits 0 on SIGTERM', async () => {
    const metadata = await fakeMetadata('10.42.3.7');
    try {
      const run = runEntrypoint({ ECS_CONTAINER_METADATA_URI_V4: metadata.uri });
      const listening = await run.waitFor('broker listening');
      expect(listening.brokerAddr).toMatch(/^10\.42\.3\.7:\d+$/);
      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
      expect(run.lines().map((l) => l.msg)).toEqual(expect.arrayContaining(['advertising the task address', 'signal received', 'broker stopped']));
    } finally {
      metadata.close();
    }
  });

  it('stops with a clear error when the metadata has no address', async () => {
    const metadata = await fakeMetadata(undefined);
    try {
      const run = runEntrypoint({ ECS_CONTAINER_METADATA_URI_V4: metadata.uri });
      expect(await run.exit).toBe(1);
      expect(run.lines()).toEqual([expect.objectContaining({ level: 'error', msg: 'cannot find the task address in the ECS metadata' })]);
    } finally {
      metadata.close();
    }
  });
});
