/**
 * The gRPC proxy image, without Docker (none here): the Dockerfile's shape, the build it runs
 * (`npm run build:grpc-proxy`, the same command locally), that the bundle ships the .proto
 * files where grpc-proxy/src/proto.ts finds them, that the build context its own ignore file
 * (and CDK's staging of it) lets through holds every source file the bundle needs while the
 * broker's context leaves the proxy out, and that the bundle — run from a folder with no
 * node_modules of the repo above it — serves MessagingService, answers GET /healthz, logs
 * JSON and exits 0 on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { grpcProxyImageExcludes } from '../../infra/lib/grpc-proxy-image';
import { REPO_ROOT } from '../../infra/lib/paths';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const dockerfile = readFileSync(path.join(REPO_ROOT, 'grpc-proxy/Dockerfile'), 'utf8');
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1)!;
const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
const patternsOf = (file: string) =>
  readFileSync(path.join(REPO_ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

let dir: string;
let out: string;
let metafile: { inputs: Record<string, unknown> };

beforeAll(async () => {
  // os.tmpdir(): no node_modules of the repo on the way up, as in the image's /app.
  dir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-grpc-proxy-image-'));
  out = path.join(dir, 'app');
  await promisify(execFile)(process.execPath, ['grpc-proxy/docker/build.mjs', '--outdir', out, '--metafile', path.join(dir, 'meta.json')], {
    cwd: REPO_ROOT,
  });
  metafile = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('grpc-proxy/Dockerfile', () => {
  it('builds in one stage and runs the bundle in another, as a non-root user', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/^RUN npm run build:grpc-proxy -- --outdir \/out$/m);
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/^COPY --from=build \/out\/ \/app\/$/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(cmd).toEqual(['node', '--enable-source-maps', 'proxy.mjs']);
  });

  it("runs a file the build puts in its output, with the client package's .proto files beside it", () => {
    expect(existsSync(path.join(out, cmd.at(-1)!))).toBe(true);
    const shipped = path.join(out, 'node_modules/rocketmq-client-nodejs');
    const protos = readdirSync(path.join(shipped, 'proto/apache/rocketmq/v2')).sort();
    expect(protos).toEqual(['admin.proto', 'definition.proto', 'service.proto']);
    const original = path.join(REPO_ROOT, 'node_modules/rocketmq-client-nodejs/proto/apache/rocketmq/v2/service.proto');
    expect(readFileSync(path.join(shipped, 'proto/apache/rocketmq/v2/service.proto'))).toEqual(readFileSync(original));
    expect(existsSync(path.join(shipped, 'package.json'))).toBe(true);
    // no code of the package: the bundle holds all code
    expect(readdirSync(shipped).sort()).toEqual(['LICENSE', 'package.json', 'proto']);
  });

  it('gets every source file the bundle is made of through its own ignore file and CDK staging, and stays out of the broker image', () => {
    const own = IgnoreStrategy.docker(REPO_ROOT, patternsOf('grpc-proxy/Dockerfile.dockerignore'));
    // What DockerImageAsset stages: the root .dockerignore, then `exclude`, then its own additions.
    const staged = IgnoreStrategy.docker(REPO_ROOT, [...patternsOf('.dockerignore'), ...grpcProxyImageExcludes(), '!.dockerignore', '!Dockerfile']);
    const broker = IgnoreStrategy.docker(REPO_ROOT, patternsOf('.dockerignore'));
    const sources = Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
    expect(sources).toContain('grpc-proxy/src/main.ts');
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)]
      .flatMap((m) => m[1]!.split(' '))
      .filter((f) => statSync(path.join(REPO_ROOT, f)).isFile());
    expect(copied).toEqual(['package.json', 'package-lock.json', 'client/package.json', 'tsconfig.json']);
    const needed = [...sources, ...copied, 'grpc-proxy/docker/build.mjs', 'grpc-proxy/Dockerfile', 'grpc-proxy/Dockerfile.dockerignore'];
    const abs = (f: string) => path.join(REPO_ROOT, f);
    expect(needed.filter((f) => own.ignores(abs(f)))).toEqual([]);
    expect(needed.filter((f) => staged.ignores(abs(f)))).toEqual([]);
    for (const other of ['broker-node/src/main.ts', 'functions/gateway/src/app.ts', 'node_modules/undici/package.json', 'grpc-proxy/src/server.test.ts']) {
      expect(own.ignores(abs(other)), other).toBe(true);
      expect(staged.ignores(abs(other)), other).toBe(true);
    }
    // a proxy change never changes the broker image (a broker redeploy is a short outage)
    expect(broker.ignores(abs('grpc-proxy/src/main.ts'))).toBe(true);
  });
});

describe('the bundle', () => {
  it('serves MessagingService from the shipped .proto files, answers /healthz, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, cmd.slice(1), {
      cwd: out,
      env: {
        PATH: process.env.PATH,
        CIRRUSMQ_GRPC_PROXY_PORT: '0',
        CIRRUSMQ_GRPC_PROXY_HEALTH_PORT: '0',
        // Nobody listens there: the RPCs that need a route fail, the server keeps serving.
        CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:9',
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
        .map((l) => JSON.parse(l) as Record<string, any>);
    try {
      const deadline = Date.now() + 20_000;
      let listening: Record<string, any> | undefined;
      while (!listening && Date.now() < deadline && child.exitCode === null) {
        listening = lines().find((l) => l.msg === 'grpc-proxy listening');
        if (!listening) await new Promise((r) => setTimeout(r, 50));
      }
      expect(listening, output).toBeDefined();
      const health = await fetch(`http://127.0.0.1:${listening!.healthPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'UP', pid: child.pid });

      // A client built from the package's own .proto files: the service and method names match.
      const def = protoLoader.loadSync('apache/rocketmq/v2/service.proto', {
        includeDirs: [path.join(REPO_ROOT, 'node_modules/rocketmq-client-nodejs/proto')],
        keepCase: true,
        longs: Number,
        enums: String,
        defaults: true,
        oneofs: true,
      });
      const Service = (grpc.loadPackageDefinition(def) as any).apache.rocketmq.v2.MessagingService as grpc.ServiceClientConstructor;
      const client = new Service(`127.0.0.1:${listening!.port}`, grpc.credentials.createInsecure()) as any;
      try {
        const answer = await new Promise<{ err: grpc.ServiceError | null; res: any }>((resolve) =>
          client.QueryRoute(
            { topic: { name: 'orders', resource_namespace: '' }, endpoints: { scheme: 'IPv4', addresses: [{ host: '127.0.0.1', port: 8081 }] } },
            new grpc.Metadata(),
            { deadline: Date.now() + 10_000 },
            (err: grpc.ServiceError | null, res: any) => resolve({ err, res }),
          ),
        );
        // Served (the NameServer is unreachable, so not OK), not UNIMPLEMENTED: the service is there.
        const code = answer.err ? answer.err.code : answer.res.status.code;
        expect(answer.err?.code).not.toBe(grpc.status.UNIMPLEMENTED);
        expect(code).not.toBe('OK');
      } finally {
        client.close();
      }
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(lines().map((l) => l.msg)).toEqual(expect.arrayContaining(['grpc-proxy listening', 'grpc-proxy stopping']));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
