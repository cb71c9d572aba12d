/**
 * npm run bench:pop-path [-- --messages 200000 --consumers 4 --runs 3 --transport remoting|http|both]
 *
 * The broker's side of receive + ack alone, for work on the POP path: one broker, messages
 * pre-stored, SimpleConsumer loops (receive 32 + ackAll) in worker processes
 * (consume-worker.ts), and the broker's CPU per acked message from /proc over each run. The
 * figure does not depend on the machine's load as much as msgs/s does; bench:consume is the
 * comparison against a peer. With CIRRUSMQ_BENCH_SIGNAL_PROFILE set, the broker gets SIGUSR2
 * when the measured runs start (for a profiler preloaded with --import that starts on it).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GatewayClient, Producer } from '@cirrusmq/client';
import { startTestCluster } from '../support/cluster';
import type { WorkerResult, WorkerSpec } from './consume-worker';
import { cpuSeconds, systemSeconds, withChildren } from './proc-cpu';
import { fmt, median } from './stats';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    consumers: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    brokers: { type: 'string', default: '1' },
    /** The consumers' transport to the broker (the SDK's default: remoting); both: each run once over each, alternating, in one cluster. */
    transport: { type: 'string', default: 'remoting' },
  },
});
const stored = Number(values.messages);
if (!['remoting', 'http', 'both'].includes(values.transport)) throw new Error(`--transport remoting, http or both, not ${values.transport}`);
const transports = (values.transport === 'both' ? ['http', 'remoting'] : [values.transport]) as ('remoting' | 'http')[];
const consumers = Number(values.consumers);
const runs = Number(values.runs);
const BATCH = 32;
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'consume-worker.ts');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let workers = 0;
const log = (s: string) => process.stdout.write(`${s}\n`);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-pop-path-'));
const cluster = await startTestCluster({
  dataDir,
  brokers: Array.from({ length: Number(values.brokers) }, (_, i) => `broker-${String.fromCharCode(97 + i)}`),
  env: {
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(1 << 30),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
  },
});
const nameServer = `${cluster.config.host}:${cluster.config.nameServerPort}`;
const gateway = new GatewayClient(cluster.gatewayUrl);
const producer = new Producer({ nameServer });
try {
  const res = await fetch(`${cluster.gatewayUrl}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'bench', queues: 8 / cluster.config.brokers.length }),
  });
  if (res.status >= 300) throw new Error(`create topic: ${res.status} ${await res.text()}`);
  const body = Buffer.alloc(1024, 'cirrusmq-benchmark-payload-');
  const batch = Array.from({ length: BATCH }, () => ({ topic: 'bench', body, tags: 'TagA' }));
  let sent = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < stored) {
        sent += BATCH;
        await producer.sendBatch(batch);
      }
    }),
  );
  const pids = cluster.config.brokers.map((b) => cluster.pid(b.brokerName)!);
  const perMsg = new Map<string, number[]>(transports.map((t) => [t, []]));
  const clientPerMsg = new Map<string, number[]>(transports.map((t) => [t, []]));
  for (let run = 0; run <= runs; run++) {
    for (const transport of transports) {
      // Profiling (a --import preload that starts on SIGUSR2): the measured runs only.
      if (run === 1 && transport === transports[0] && process.env.CIRRUSMQ_BENCH_SIGNAL_PROFILE) for (const pid of pids) process.kill(pid, 'SIGUSR2');
      const group = `pop-path-${run}-${transport}`;
      await gateway.putGroup(group, { consumeFrom: 'earliest' });
      const cpu0 = cpuSeconds(withChildren(pids));
      const sys0 = systemSeconds(withChildren(pids));
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: consumers }, () =>
          worker({
            mode: 'direct',
            address: nameServer,
            topic: 'bench',
            group,
            batch: BATCH,
            durationMs: Number(values.seconds) * 1000,
            transport,
          }),
        ),
      );
      const ms = performance.now() - t0;
      const cpu = cpuSeconds(withChildren(pids)) - cpu0;
      const sys = systemSeconds(withChildren(pids)) - sys0;
      const acked = results.reduce((a, r) => a + r.acked, 0);
      const us = (cpu * 1e6) / acked;
      const clientUs = results.reduce((a, r) => a + r.cpuUs, 0) / acked;
      const receives = results.reduce((a, r) => a + r.receiveMs.length, 0);
      log(
        `${run === 0 ? 'warm-up' : `run ${run}`}${transports.length > 1 ? ` ${transport}` : ''}: ${fmt(acked)} acked, ${fmt(acked / (ms / 1000))} msg/s, broker CPU ${fmt(us, 2)} µs/msg (${fmt((100 * sys) / cpu, 0)}% in the kernel), consumer processes ${fmt(clientUs, 2)} µs/msg, ${fmt(acked / receives, 1)} messages a receive, load ${os.loadavg()[0]!.toFixed(1)}`,
      );
      if (run > 0) {
        perMsg.get(transport)!.push(us);
        clientPerMsg.get(transport)!.push(clientUs);
      }
    }
  }
  for (const t of transports) {
    log(`median CPU per acked message over ${t}: broker ${fmt(median(perMsg.get(t)!), 2)} µs, consumer processes ${fmt(median(clientPerMsg.get(t)!), 2)} µs`);
  }
} finally {
  await producer.shutdown();
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function worker(spec: Omit<WorkerSpec, 'resultFile' | 'awaitMs'>): Promise<WorkerResult> {
  const resultFile = path.join(dataDir, `worker-${++workers}.json`);
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', WORKER, JSON.stringify({ awaitMs: 0, ...spec, resultFile })], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { type: string };
      if (m.type === 'ready') child.stdin!.write('go\n');
      else if (m.type === 'result') resolve(JSON.parse(fs.readFileSync(resultFile, 'utf8')) as WorkerResult);
    });
    child.on('error', reject);
    child.on('exit', (code) => code !== 0 && reject(new Error(`worker exited ${code}`)));
  });
}
