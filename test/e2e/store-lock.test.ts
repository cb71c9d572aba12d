/**
 * One owner per store folder, with real processes (client/src/folder-lock.ts):
 *   - a second broker on a live broker's CIRRUSMQ_STORE_DIR exits non-zero at once, names
 *     the folder and the holder's pid, and changes no byte, size or mtime in the folder
 *     (the holder is SIGSTOPped meanwhile, so any change is the second process's); the
 *     first broker then still serves every acknowledged message;
 *   - after SIGKILL of the holder a new broker takes the folder (no stale lock) and serves
 *     the same messages;
 *   - the same for the NameServer's embedded data folder.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient, NameServerClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { freePort } from '../support/free-port';
import { Proc } from '../support/proc';
import { singleBrokerProcs, type SingleBroker } from '../support/single-broker';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOPIC = 'locked';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Every file and folder under `dir`: path, size, mtime (ns) and content hash, sorted. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      const st = fs.statSync(p, { bigint: true });
      if (ent.isDirectory()) {
        out.push(`${path.relative(dir, p)}/ mtime=${st.mtimeNs}`);
        walk(p);
      } else {
        const sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        out.push(`${path.relative(dir, p)} size=${st.size} mtime=${st.mtimeNs} sha256=${sha}`);
      }
    }
  };
  out.push(`./ mtime=${fs.statSync(dir, { bigint: true }).mtimeNs}`);
  walk(dir);
  return out.sort();
}

/** Runs an entry point that is expected to exit; answers its exit code, output and how long it ran. */
function runToExit(entry: string, env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} still running after ${timeoutMs} ms (it should have refused the locked folder); output:\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

function brokerEnv(h: SingleBroker, port: number): Record<string, string> {
  return {
    CIRRUSMQ_BROKER_NAME: 'broker-a',
    CIRRUSMQ_BROKER_HOST: '127.0.0.1',
    CIRRUSMQ_BROKER_PORT: String(port),
    CIRRUSMQ_NAMESRV_ADDR: h.nsAddr,
    CIRRUSMQ_STORE_DIR: h.storeDir,
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '1000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '30000',
    CIRRUSMQ_LOG_LEVEL: 'info',
  };
}

async function readAll(client: BrokerClient, queueId: number): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const page = await client.pull(TOPIC, queueId, bodies.length, 64);
    if (page.messages.length === 0) return bodies;
    bodies.push(...page.messages.map((m) => m.body.toString()));
  }
}

async function expectServes(brokerAddr: string, acked: Map<string, string>): Promise<void> {
  const client = new BrokerClient(brokerAddr);
  try {
    const queues = [await readAll(client, 0), await readAll(client, 1)];
    expect(queues[0]!.length + queues[1]!.length).toBe(acked.size);
    for (const [key, body] of acked) {
      const [q, o] = key.split('/').map(Number) as [number, number];
      expect(queues[q]![o], `queue ${q} offset ${o}`).toBe(body);
    }
  } finally {
    client.close();
  }
}

/** SIGSTOP for the duration of `fn`: the holder keeps its lock but writes nothing meanwhile. */
async function whileStopped<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('one process per store folder', () => {
  it('refuses a second broker on a live store folder without touching it; a SIGKILLed holder leaves no stale lock', async () => {
    const h = await singleBrokerProcs('cirrusmq-lock-e2e-', {});
    cleanups.push(() => {
      if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(h.dataDir, { recursive: true, force: true });
    });
    cleanups.push(() => h.nameServer.stop('SIGTERM'));
    cleanups.push(() => h.broker.stop('SIGKILL'));
    await h.nameServer.start();
    await h.broker.start();
    const ns = new NameServerClient(h.nsAddr);
    cleanups.push(() => ns.close());
    await waitFor('broker registered', 20_000, async () => (await ns.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive));
    await ns.createTopic({ topic: TOPIC, queues: 2 });
    const producer = new Producer({ nameServer: h.nsAddr, retryTimesWhenSendFailed: 2, sendTimeoutMs: 5_000 });
    cleanups.push(() => producer.shutdown());
    const acked = new Map<string, string>();
    for (let i = 0; i < 300; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => ({ topic: TOPIC, body: Buffer.from(`m-${i + j}`) }));
      const results = await producer.sendBatch(batch);
      results.forEach((r, j) => {
        expect(r.status).toBe('SEND_OK');
        acked.set(`${r.messageQueue.queueId}/${r.queueOffset}`, batch[j]!.body.toString());
      });
    }
    const holderPid = h.broker.child!.pid!;

    const secondPort = await freePort();
    const { before, after, run } = await whileStopped(holderPid, async () => {
      const before = fingerprint(h.storeDir);
      const run = await runToExit('broker-node/src/main.ts', brokerEnv(h, secondPort), 30_000);
      return { before, after: fingerprint(h.storeDir), run };
    });
    expect(run.code, run.output).not.toBe(0);
    expect(run.output).toContain('STORE_LOCKED');
    expect(run.output).toContain(h.storeDir);
    expect(run.output).toContain(`pid ${holderPid}`);
    expect(run.output).not.toContain('message store loaded');
    expect(after).toEqual(before);
    // The holder file names the live holder.
    expect(JSON.parse(fs.readFileSync(path.join(h.storeDir, 'lock'), 'utf8'))).toMatchObject({ pid: holderPid, owner: 'broker broker-a' });
    console.log(`second broker refused in ${run.ms} ms (process start included)`);

    // The refused process did not disturb the holder: it serves every acknowledged message.
    await expectServes(h.brokerAddr, acked);

    // SIGKILL frees the lock with the process: a new broker takes the folder and serves the same data.
    await h.broker.stop('SIGKILL');
    const thirdPort = await freePort();
    const third = new Proc(
      'broker-3',
      'broker-node/src/main.ts',
      brokerEnv(h, thirdPort),
      `http://127.0.0.1:${thirdPort}/healthz`,
      path.join(h.dataDir, 'logs', 'broker-3.log'),
    );
    cleanups.push(() => third.stop('SIGKILL'));
    await third.start();
    expect(JSON.parse(fs.readFileSync(path.join(h.storeDir, 'lock'), 'utf8')).pid).toBe(third.child!.pid);
    await expectServes(`127.0.0.1:${thirdPort}`, acked);
  }, 120_000);

  it('refuses a second NameServer on live embedded data without touching it; a SIGKILLed holder leaves no stale lock', async () => {
    const h = await singleBrokerProcs('cirrusmq-lock-ns-e2e-', {});
    cleanups.push(() => {
      if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(h.dataDir, { recursive: true, force: true });
    });
    cleanups.push(() => h.nameServer.stop('SIGKILL'));
    await h.nameServer.start();
    const ns = new NameServerClient(h.nsAddr);
    cleanups.push(() => ns.close());
    // A registration alone (no broker process): topic creation needs a live master.
    await ns.registerBroker({
      clusterName: 'DefaultCluster',
      brokerName: 'broker-a',
      brokerId: 0,
      brokerAddr: '127.0.0.1:1',
      startedAt: Date.now(),
      heartbeatTimeoutMs: 60_000,
    });
    await ns.createTopic({ topic: 'kept', queues: 3 });
    const dataDir = path.join(h.dataDir, 'nameserver');
    const lockedDir = path.join(dataDir, 'nameserver');
    const holderPid = h.nameServer.child!.pid!;
    const nsEnv = (port: number) => ({
      CIRRUSMQ_NAMESRV_HOST: '127.0.0.1',
      CIRRUSMQ_NAMESRV_PORT: String(port),
      CIRRUSMQ_DATA_DIR: dataDir,
      CIRRUSMQ_ROUTE_BACKEND: 'embedded',
    });

    const secondPort = await freePort();
    const { before, after, run } = await whileStopped(holderPid, async () => {
      const before = fingerprint(dataDir);
      const run = await runToExit('functions/nameserver/src/main.ts', nsEnv(secondPort), 30_000);
      return { before, after: fingerprint(dataDir), run };
    });
    expect(run.code, run.output).not.toBe(0);
    expect(run.output).toContain('STORE_LOCKED');
    expect(run.output).toContain(lockedDir);
    expect(run.output).toContain(`pid ${holderPid}`);
    expect(run.output).not.toContain('nameserver listening');
    expect(after).toEqual(before);
    expect((await ns.listTopics()).map((t) => t.topic)).toEqual(['kept']);

    await h.nameServer.stop('SIGKILL');
    const thirdPort = await freePort();
    const third = new Proc(
      'nameserver-3',
      'functions/nameserver/src/main.ts',
      nsEnv(thirdPort),
      `http://127.0.0.1:${thirdPort}/healthz`,
      path.join(h.dataDir, 'logs', 'nameserver-3.log'),
    );
    cleanups.push(() => third.stop('SIGKILL'));
    await third.start();
    const ns3 = new NameServerClient(`127.0.0.1:${thirdPort}`);
    cleanups.push(() => ns3.close());
    expect((await ns3.listTopics()).map((t) => [t.topic, t.queues])).toEqual([['kept', 3]]);
  }, 90_000);
});
