/**
 * `npm start` as a user runs it: `node --import tsx infra/local/start-cluster.ts` as a process,
 * on free ports and a temp folder, with signals and SIGKILLs sent to it and to its children.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPortsFree } from '../../infra/local/port-check';
import { waitFor } from '../../infra/local/wait-for';
import { api, readWholeQueue } from '../support/cluster';
import { freePort } from '../support/free-port';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STARTED = 'Ctrl-C stops the cluster.';

interface Ports {
  nameserver: number;
  'broker-a': number;
  'broker-b': number;
  gateway: number;
  grpcProxy: number;
  /** The gRPC proxy's HTTP /healthz port. */
  grpcProxyHealth: number;
}

/** One `npm start`: its stdout and stderr collected, its exit awaited. */
class Launcher {
  output = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', 'infra/local/start-cluster.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForOutput(what: string, pattern: RegExp | string, timeoutMs = 60_000): Promise<void> {
    await waitFor(what, timeoutMs, async () => {
      if (typeof pattern === 'string' ? this.output.includes(pattern) : pattern.test(this.output)) return true;
      if (!this.running) throw new Error(`launcher exited before ${what}; its output:\n${this.output}`);
      return false;
    });
  }

  async started(): Promise<void> {
    await this.waitForOutput('the banner', STARTED);
  }
}

async function newLauncherEnv(extra: Record<string, string> = {}): Promise<{ env: Record<string, string>; ports: Ports; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-launcher-'));
  const ports: Ports = {
    nameserver: await freePort(),
    'broker-a': await freePort(),
    'broker-b': await freePort(),
    gateway: await freePort(),
    grpcProxy: await freePort(),
    grpcProxyHealth: await freePort(),
  };
  const env = {
    CIRRUSMQ_DATA_DIR: dataDir,
    CIRRUSMQ_NAMESRV_PORT: String(ports.nameserver),
    CIRRUSMQ_BROKERS: `broker-a:${ports['broker-a']},broker-b:${ports['broker-b']}`,
    CIRRUSMQ_GATEWAY_PORT: String(ports.gateway),
    CIRRUSMQ_GRPC_PROXY_PORT: String(ports.grpcProxy),
    CIRRUSMQ_GRPC_PROXY_HEALTH_PORT: String(ports.grpcProxyHealth),
    CIRRUSMQ_LOG_LEVEL: 'warn',
    ...extra,
  };
  return { env, ports, dataDir };
}

const url = (port: number) => `http://127.0.0.1:${port}`;

/** The pid the process on `port` answers in /healthz. */
async function healthPid(port: number): Promise<number> {
  const body = (await (await fetch(`${url(port)}/healthz`)).json()) as { pid: number };
  expect(body.pid).toEqual(expect.any(Number));
  return body.pid;
}

async function allPids(ports: Ports): Promise<Record<string, number>> {
  return {
    nameserver: await healthPid(ports.nameserver),
    'broker-a': await healthPid(ports['broker-a']),
    'broker-b': await healthPid(ports['broker-b']),
    gateway: await healthPid(ports.gateway),
    'grpc-proxy': await healthPid(ports.grpcProxyHealth),
  };
}

/** Gone or a zombie: a child of a SIGKILLed launcher waits for a reaper that may be slow in a container. */
function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (fs.existsSync('/proc/self')) return true;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

function portList(ports: Ports) {
  return Object.entries(ports).map(([name, port]) => ({ name, port }));
}

interface Sent {
  broker: string;
  queueId: number;
  queueOffset: number;
  body: string;
}

async function send(gateway: number, topic: string, bodies: string[]): Promise<Sent[]> {
  const res = await api(url(gateway), 'POST', `/v1/topics/${topic}/messages`, { messages: bodies.map((body) => ({ body })) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.results.map((r: any, i: number) => {
    expect(r.status).toBe('SEND_OK');
    return { broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, body: bodies[i]! };
  });
}

/** Every message sent to `broker` reads back at its queue and offset, and the queues hold nothing else. */
async function expectAllRead(gateway: number, topic: string, broker: string, sent: Sent[]): Promise<void> {
  const mine = sent.filter((s) => s.broker === broker);
  expect(mine.length).toBeGreaterThan(0);
  for (let queueId = 0; queueId < 4; queueId++) {
    const expected = mine.filter((s) => s.queueId === queueId).sort((a, b) => a.queueOffset - b.queueOffset);
    const read = await readWholeQueue(url(gateway), topic, broker, queueId);
    expect(read.map((m) => m.body)).toEqual(expected.map((s) => s.body));
    expect(read.map((m) => m.queueOffset)).toEqual(expected.map((s) => s.queueOffset));
  }
}

async function brokerAlive(gateway: number, brokerName: string): Promise<boolean | undefined> {
  const res = await api(url(gateway), 'GET', '/v1/cluster');
  expect(res.status).toBe(200);
  return res.body.brokers.find((b: { brokerName: string }) => b.brokerName === brokerName)?.alive;
}

async function stopLauncher(launcher: Launcher | undefined, dataDir: string | undefined): Promise<void> {
  if (launcher?.running) {
    launcher.child.kill('SIGTERM');
    await launcher.exited;
  }
  if (dataDir && process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(dataDir, { recursive: true, force: true });
}

describe('npm start supervises its cluster', () => {
  let launcher: Launcher;
  let ports: Ports;
  let dataDir: string;
  let env: Record<string, string>;
  const sent: Sent[] = [];

  beforeAll(async () => {
    // A 3 s first restart delay leaves a window to see a dead broker listed down.
    ({ env, ports, dataDir } = await newLauncherEnv({ CIRRUSMQ_RESTART_DELAY_MS: '3000' }));
    launcher = new Launcher(env);
    await launcher.started();
    expect((await api(url(ports.gateway), 'POST', '/v1/topics', { topic: 'orders', queues: 4 })).status).toBe(201);
    // A batch goes to one queue; 40 of them reach every queue of both brokers.
    for (let batch = 0; batch < 40; batch++) {
      sent.push(
        ...(await send(
          ports.gateway,
          'orders',
          Array.from({ length: 10 }, (_, i) => `before-${batch}-${i}`),
        )),
      );
    }
    expect(new Set(sent.map((s) => `${s.broker}/${s.queueId}`)).size).toBe(8);
  }, 120_000);

  afterAll(async () => {
    await stopLauncher(launcher, dataDir);
  }, 60_000);

  it('refuses a second start on the same ports and folder before spawning anything; the first cluster keeps every message', async () => {
    const pidsBefore = await allPids(ports);
    const second = new Launcher(env);
    const { code } = await second.exited;
    expect(code, second.output).toBe(1);
    expect(second.output).toContain(`cannot start: port ${ports.nameserver} (nameserver) is in use: is a cluster already running?`);
    expect(second.output).not.toContain(STARTED);
    // The same processes serve, and they serve everything that was acknowledged.
    expect(await allPids(ports)).toEqual(pidsBefore);
    await expectAllRead(ports.gateway, 'orders', 'broker-a', sent);
    await expectAllRead(ports.gateway, 'orders', 'broker-b', sent);
  }, 60_000);

  it('reports a broker killed with SIGKILL at once, lists it down, routes around it, restarts it, and it serves its old messages again', async () => {
    const pid = await healthPid(ports['broker-a']);
    process.kill(pid, 'SIGKILL');
    const log = path.join(dataDir, 'logs', 'broker-a.log');
    await launcher.waitForOutput(
      'the report line',
      `[supervisor] broker-a (pid ${pid}) exited unexpectedly (signal SIGKILL); log: ${log}; restarting in 3 s (try 1)`,
      10_000,
    );
    // Down at once, not after the 120 s heartbeat timeout; and left out of the topic's route.
    await waitFor('broker-a listed down', 10_000, async () => (await brokerAlive(ports.gateway, 'broker-a')) !== true);
    expect(await brokerAlive(ports.gateway, 'broker-b')).toBe(true);
    const route = await api(url(ports.nameserver), 'GET', '/v1/topics/orders/route');
    expect(route.body.queueDatas.map((q: { brokerName: string }) => q.brokerName)).toEqual(['broker-b']);
    if (launcher.output.includes('broker-a is back')) throw new Error('broker-a came back before it was seen down; the test window is too short');

    await launcher.waitForOutput('broker-a restarted', /\[supervisor\] broker-a is back \(pid (\d+)\)/, 60_000);
    const newPid = Number(/\[supervisor\] broker-a is back \(pid (\d+)\)/.exec(launcher.output)![1]);
    expect(newPid).not.toBe(pid);
    expect(await healthPid(ports['broker-a'])).toBe(newPid);
    await waitFor('broker-a listed alive', 20_000, async () => (await brokerAlive(ports.gateway, 'broker-a')) === true);
    await expectAllRead(ports.gateway, 'orders', 'broker-a', sent);
  }, 120_000);

  it('reports the gRPC proxy killed with SIGKILL and restarts it on its ports', async () => {
    const pid = await healthPid(ports.grpcProxyHealth);
    process.kill(pid, 'SIGKILL');
    await launcher.waitForOutput('the proxy report line', `[supervisor] grpc-proxy (pid ${pid}) exited unexpectedly (signal SIGKILL)`, 10_000);
    await launcher.waitForOutput('grpc-proxy restarted', /\[supervisor\] grpc-proxy is back \(pid (\d+)\)/, 60_000);
    const newPid = Number(/\[supervisor\] grpc-proxy is back \(pid (\d+)\)/.exec(launcher.output)![1]);
    expect(newPid).not.toBe(pid);
    expect(await healthPid(ports.grpcProxyHealth)).toBe(newPid);
  }, 90_000);

  it('retries a restart that fails (the port, like a store lock, is not free yet) with a longer delay, then brings the broker back', async () => {
    const pid = await healthPid(ports['broker-b']);
    process.kill(pid, 'SIGKILL');
    // Hold broker-b's port as soon as the dead process lets go, so the first restart fails.
    let holder: net.Server | undefined;
    await waitFor('broker-b port held', 10_000, async () => {
      // Connections (the launcher's health checks) are cut at once, so close() does not wait on them.
      const srv = net.createServer((socket) => socket.destroy());
      const ok = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen({ host: '127.0.0.1', port: ports['broker-b'] }, () => resolve(true));
      });
      if (ok) holder = srv;
      return ok;
    });
    try {
      await launcher.waitForOutput('broker-b killed', `[supervisor] broker-b (pid ${pid}) exited unexpectedly (signal SIGKILL)`, 10_000);
      await launcher.waitForOutput(
        'the failed restart',
        /\[supervisor\] broker-b \(pid \d+\) exited unexpectedly \(code 1\); log: .*; restarting in 6 s \(try 2\)/,
        60_000,
      );
    } finally {
      await new Promise((r) => holder!.close(r));
    }
    await launcher.waitForOutput('broker-b restarted', /\[supervisor\] broker-b is back \(pid \d+\)/, 60_000);
    await waitFor('broker-b listed alive', 20_000, async () => (await brokerAlive(ports.gateway, 'broker-b')) === true);
    await expectAllRead(ports.gateway, 'orders', 'broker-b', sent);
  }, 120_000);
});

describe('the launcher stops its children', () => {
  let launcher: Launcher | undefined;
  let dataDir: string | undefined;
  afterAll(async () => {
    await stopLauncher(launcher, dataDir);
  }, 60_000);

  it('stops them in order on SIGHUP (a closed terminal) and frees their ports', async () => {
    const setup = await newLauncherEnv();
    dataDir = setup.dataDir;
    launcher = new Launcher(setup.env);
    await launcher.started();
    const pids = await allPids(setup.ports);
    launcher.child.kill('SIGHUP');
    const { code } = await launcher.exited;
    expect(code, launcher.output).toBe(0);
    expect(launcher.output).toContain('stopping: gateway and gRPC proxy, then brokers (flush and unregister), then the NameServer...\nstopped.');
    for (const pid of Object.values(pids)) expect(processGone(pid)).toBe(true);
    await assertPortsFree('127.0.0.1', portList(setup.ports));
    // The brokers flushed and unregistered: both logged their clean stop.
    for (const broker of ['broker-a', 'broker-b']) {
      expect(fs.readFileSync(path.join(setup.dataDir, 'logs', `${broker}.log`), 'utf8')).not.toMatch(/"level":"error"/);
    }
  }, 120_000);

  it('lets them notice a SIGKILLed launcher: all exit within seconds and free their ports', async () => {
    await stopLauncher(launcher, dataDir);
    const setup = await newLauncherEnv();
    dataDir = setup.dataDir;
    launcher = new Launcher(setup.env);
    await launcher.started();
    const pids = await allPids(setup.ports);
    launcher.child.kill('SIGKILL');
    await launcher.exited;
    await waitFor('every child gone', 10_000, async () => Object.values(pids).every(processGone));
    await waitFor('ports free', 10_000, async () => assertPortsFree('127.0.0.1', portList(setup.ports)).then(() => true));
  }, 120_000);
});
