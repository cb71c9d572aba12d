/**
 * npm run bench:consume [-- --seconds 8 --runs 3 --consumers 4 --messages 1200000]
 *
 * Throughput, with 1 KB messages already stored (--messages on each system), each consumer
 * loop in its own process (consume-worker.ts), runs interleaved A B C A B C:
 *   (a) SDK SimpleConsumer straight to the brokers: receive 32 + ack, the next receive beside
 *       the ack (--await-acks: after it),
 *   (b) the same SimpleConsumer through the gateway's HTTP API (the next receive carries the ack),
 *   (c) NATS JetStream (file store), a durable pull consumer: fetch 32, ack each message.
 * Every run reads with a fresh group (or durable) from the first stored message, so each reads
 * the same messages. Per run: acked msgs/s, p50/p99 of the receive call, and the SERVER CPU
 * per acked message (utime+stime from /proc of brokers + NameServer (+ gateway for b) vs
 * nats-server, over the run). Then latency (consume-latency.ts): a fixed-rate producer (this
 * process) and consumers in their own processes, at 1,000 and 10,000 msg/s, CirrusMQ and
 * JetStream alternately.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GatewayClient, Producer } from '@cirrusmq/client';
import { startTestCluster } from '../support/cluster';
import type { WorkerResult, WorkerSpec } from './consume-worker';
import { type LatencySystem, runLatency } from './consume-latency';
import { hasNatsServer, NatsPeer } from './nats-peer';
import { cpuSeconds, withChildren } from './proc-cpu';
import { fmt, median, percentile } from './stats';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    consumers: { type: 'string', default: '4' },
    messages: { type: 'string', default: '1200000' },
    'latency-seconds': { type: 'string', default: '8' },
    'latency-consumers': { type: 'string', default: '4' },
    'latency-warmup-seconds': { type: 'string', default: '5' },
    'latency-rates': { type: 'string', default: '1000,10000' },
    'latency-systems': { type: 'string', default: 'cirrus,nats' },
    'segment-mib': { type: 'string', default: '1024' },
    systems: { type: 'string', default: 'direct,gateway,nats' },
    'client-node-options': { type: 'string', default: '--initial-old-space-size=64' },
    'await-acks': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:consume -- [--seconds S (per throughput run, 8)] [--runs N (3)] [--consumers C (4)] [--messages M (pre-stored, 1200000)]\n' +
      '  [--latency-seconds S (8)] [--latency-warmup-seconds W (5)] [--latency-consumers C (4)] [--latency-rates 1000,10000 (empty: skip)]\n' +
      '  [--latency-systems cirrus,nats (CirrusMQ, and JetStream beside it when nats-server is installed)]\n' +
      '  [--segment-mib M (the CommitLog segment size, 1024 as the broker default; smaller: segments roll and seal during the runs)]\n' +
      '  [--systems direct,gateway,nats (the throughput rows to run: (a), (b), (c))]\n' +
      "  [--client-node-options '--initial-old-space-size=64' (node flags for every consumer process alike, as bench:produce's; '' for V8's defaults)]\n" +
      '  [--await-acks ((a) and (b) wait for each ack before the next receive; by default the next receive starts beside the ack)]',
  );
  process.exit(0);
}
const durationMs = Number(values.seconds) * 1000;
const runs = Number(values.runs);
const consumers = Number(values.consumers);
const stored = Number(values.messages);
const latencyMs = Number(values['latency-seconds']) * 1000;
const latencyConsumers = Number(values['latency-consumers']);
const latencyWarmupMs = Number(values['latency-warmup-seconds']) * 1000;
const latencyRates = values['latency-rates']!.split(',').filter(Boolean).map(Number);
const systems = new Set(values.systems!.split(',').filter(Boolean));
for (const s of systems) if (!['direct', 'gateway', 'nats'].includes(s)) throw new Error(`--systems: unknown system ${s} (direct, gateway, nats)`);
const runDirect = systems.has('direct');
const runGateway = systems.has('gateway');
const WORKER_NODE_FLAGS = values['client-node-options'] ? values['client-node-options'].split(' ').filter(Boolean) : [];
const BATCH = 32;
const MSG_BYTES = 1024;
const WARMUP_MS = 2000;
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'consume-worker.ts');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const body = Buffer.alloc(MSG_BYTES, 'cirrusmq-benchmark-payload-');
const log = (s: string) => process.stdout.write(s + '\n');
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
let workerCount = 0;

log(
  `bench:consume: ${MSG_BYTES} B messages, ${fmt(stored)} pre-stored, receive ${BATCH} + ack, ${consumers} consumer processes, ${durationMs / 1000}s per run, ${runs} run(s); ${os.cpus().length} cores; load average ${load()}`,
);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-'));
// Production-like store: the broker's defaults (1 GiB CommitLog segments, 300,000 ConsumeQueue
// units per file, ASYNC_FLUSH every 500 ms), not the test cluster's small files.
const cluster = await startTestCluster({
  dataDir,
  env: {
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(Number(values['segment-mib']) * 1024 * 1024),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
  },
});
const latencySystems = values['latency-systems']!.split(',').filter(Boolean) as LatencySystem[];
for (const s of latencySystems) if (s !== 'cirrus' && s !== 'nats') throw new Error(`--latency-systems: unknown system ${s} (cirrus, nats)`);
const wantNats = systems.has('nats') || (latencyRates.length > 0 && latencySystems.includes('nats'));
const nats = wantNats && hasNatsServer() ? await NatsPeer.start() : undefined;
if (!nats && wantNats) log('nats-server not found (apt-get install nats-server): the JetStream peer is skipped');
/** The throughput row (c); nats may run for the latency part alone. */
const runNats = nats && systems.has('nats') ? nats : undefined;
const nameServerAddr = `${cluster.config.host}:${cluster.config.nameServerPort}`;
const gateway = new GatewayClient(cluster.gatewayUrl);
const producer = new Producer({ nameServer: nameServerAddr });
const latencyProducer = new Producer({ nameServer: nameServerAddr, autoBatch: true });

interface RunResult {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  acked: number;
  errors: number;
  empty: number;
  cpuUsPerMsg: number;
  /** The same per server process, by pid. */
  cpuUsPerMsgByPid: Map<number, number>;
  /** The consumer processes' own CPU per acked message (the load generator's cost, for the record). */
  clientCpuUsPerMsg: number;
  /** Read and write syscalls (/proc/PID/io syscr + syscw: socket reads and writevs included) per acked message, by pid. */
  syscallsPerMsgByPid: Map<number, number>;
  /** The machine's idle share over the run (/proc/stat): near 0 means CPU-bound, well above it latency-bound. */
  idlePct: number;
  /** Gateway runs: its receive, ack and broker ack calls over the run (from /metrics; undefined when it has no such counter). */
  gatewayCalls?: { receives: number; acks: number; brokerAcks: number | undefined };
}

/** A process's read and write syscalls so far (each socket read, write or writev is one). */
function syscalls(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^syscr: (\d+)/m.exec(io)![1]) + Number(/^syscw: (\d+)/m.exec(io)![1]);
}

/** Idle and total jiffies of the machine so far (the "cpu" line of /proc/stat: idle + iowait count as idle). */
function machineJiffies(): { idle: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** The gateway's request counters (its /metrics text), to count exchanges per message. */
async function gatewayCounters(): Promise<{ receives: number; acks: number; brokerAcks: number | undefined }> {
  const text = await (await fetch(`${cluster.gatewayUrl}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return {
    receives: read('cirrusmq_gateway_receive_requests_total') ?? 0,
    acks: read('cirrusmq_gateway_ack_requests_total') ?? 0,
    brokerAcks: read('cirrusmq_gateway_broker_ack_calls_total'),
  };
}

try {
  await createTopic('bench');
  // Pre-store: 16 batches of 32 in flight, as bench:produce's direct path.
  const messages = Array.from({ length: BATCH }, () => ({ topic: 'bench', body, tags: 'TagA' }));
  const t0 = performance.now();
  const sent = await inParallel(16, stored, () => producer.sendBatch(messages));
  log(
    `stored ${fmt(sent)} messages in CirrusMQ (4 queues on each of ${cluster.config.brokers.length} brokers) in ${fmt((performance.now() - t0) / 1000, 1)} s`,
  );
  if (runNats) {
    const natsBodies = Array.from({ length: BATCH }, () => body);
    const t1 = performance.now();
    const natsSent = await inParallel(16, stored, () => runNats.publishBatch('bench.orders', natsBodies));
    log(`stored ${fmt(natsSent)} messages in JetStream (file store) in ${fmt((performance.now() - t1) / 1000, 1)} s`);
  }

  const brokerPids = ['nameserver', ...cluster.config.brokers.map((b) => b.brokerName)].map((n) => cluster.pid(n)!);
  const gatewayPid = cluster.pid('gateway')!;
  // Warm up (JIT of the brokers' and the gateway's POP and ack paths, connections), not counted.
  await gateway.putGroup('bench-warmup-a', { consumeFrom: 'earliest' });
  await gateway.putGroup('bench-warmup-b', { consumeFrom: 'earliest' });
  if (runDirect) await throughputRun({ mode: 'direct', address: nameServerAddr, group: 'bench-warmup-a' }, brokerPids, WARMUP_MS);
  if (runGateway) await throughputRun({ mode: 'gateway', address: cluster.gatewayUrl, group: 'bench-warmup-b' }, [...brokerPids, gatewayPid], WARMUP_MS);
  if (runNats) {
    await runNats.addPullConsumer('bench-warmup-c');
    await throughputRun({ mode: 'nats', address: runNats.address, group: 'bench-warmup-c' }, [runNats.pid!], WARMUP_MS);
  }
  const results: Record<'a' | 'b' | 'c', RunResult[]> = { a: [], b: [], c: [] };
  const names = new Map([
    ...['nameserver', ...cluster.config.brokers.map((b) => b.brokerName), 'gateway'].map((n) => [cluster.pid(n)!, n] as const),
    [nats?.pid ?? -1, 'nats-server'],
  ]);
  for (let run = 1; run <= runs; run++) {
    const groupA = `bench-a-${run}`;
    const groupB = `bench-b-${run}`;
    await gateway.putGroup(groupA, { consumeFrom: 'earliest' });
    await gateway.putGroup(groupB, { consumeFrom: 'earliest' });
    if (runDirect) results.a.push(await throughputRun({ mode: 'direct', address: nameServerAddr, group: groupA }, brokerPids));
    if (runGateway) results.b.push(await throughputRun({ mode: 'gateway', address: cluster.gatewayUrl, group: groupB }, [...brokerPids, gatewayPid]));
    if (runNats) {
      await runNats.addPullConsumer(`bench-c-${run}`);
      results.c.push(await throughputRun({ mode: 'nats', address: runNats.address, group: `bench-c-${run}` }, [runNats.pid!]));
    }
    const last = (k: 'a' | 'b' | 'c') =>
      results[k].length ? `${fmt(results[k].at(-1)!.msgsPerSec)} msg/s ${fmt(results[k].at(-1)!.cpuUsPerMsg, 1)} µs CPU/msg` : '-';
    log(`run ${run}/${runs}: (a) ${last('a')} | (b) ${last('b')} | (c) ${last('c')}   load ${load()}`);
    const detail = (k: 'a' | 'b' | 'c', r: RunResult | undefined) => {
      if (!r) return;
      const split = [...r.cpuUsPerMsgByPid].map(([pid, us]) => `${names.get(pid)} ${fmt(us, 1)}`);
      const g = r.gatewayCalls;
      const calls = g
        ? `; per message: ${fmt(g.receives / r.acked, 3)} receives, ${fmt(g.acks / r.acked, 3)} acks in, ${g.brokerAcks === undefined ? '?' : fmt(g.brokerAcks / r.acked, 3)} broker acks out`
        : '';
      const sys = [...r.syscallsPerMsgByPid].filter(([pid]) => names.get(pid) !== 'nameserver').map(([pid, n]) => `${names.get(pid)} ${fmt(n, 3)}`);
      log(`    (${k}) µs/msg ${split.join(', ')}, consumers ${fmt(r.clientCpuUsPerMsg, 1)}; machine idle ${fmt(r.idlePct, 0)}%${calls}`);
      log(`        read+write syscalls per message: ${sys.join(', ')}`);
    };
    if (runDirect) detail('a', results.a.at(-1));
    if (runGateway) detail('b', results.b.at(-1));
  }

  log('');
  log(`medians of ${runs} run(s)                 msgs/s   p50 ms   p99 ms   server CPU µs/msg   errors  empty receives`);
  const row = (name: string, rs: RunResult[]) => {
    if (rs.length === 0) return;
    const m = (f: (r: RunResult) => number) => median(rs.map(f));
    log(
      `${name.padEnd(36)} ${fmt(m((r) => r.msgsPerSec)).padStart(8)}  ${fmt(
        m((r) => r.p50Ms),
        2,
      ).padStart(7)}  ${fmt(
        m((r) => r.p99Ms),
        2,
      ).padStart(7)}   ${fmt(
        m((r) => r.cpuUsPerMsg),
        1,
      ).padStart(17)}   ${String(rs.reduce((a, r) => a + r.errors, 0)).padStart(6)}  ${rs.reduce((a, r) => a + r.empty, 0)}`,
    );
  };
  row('(a) SimpleConsumer, direct', results.a);
  row('(b) SimpleConsumer, gateway HTTP', results.b);
  row('(c) NATS JetStream (file), pull', results.c);
  log('');
  // Each run measures the paths back to back, so a ratio within a run shares the machine's
  // mood of the moment; the median of those is the figure to quote.
  const ratio = (x: RunResult[], y: RunResult[], f: (r: RunResult) => number, target: string) => {
    const perRun = x.map((r, i) => f(r) / f(y[i]!));
    return `${fmt(median(perRun), 2)}   target ${target}   (runs: ${perRun.map((v) => fmt(v, 2)).join(', ')})`;
  };
  log('ratios, median of per-run ratios:');
  if (runNats && runDirect) log(`  (a)/(c) msgs/s              ${ratio(results.a, results.c, (r) => r.msgsPerSec, '>= 1.0')}`);
  if (runNats && runDirect) log(`  (a)/(c) server CPU per msg  ${ratio(results.a, results.c, (r) => r.cpuUsPerMsg, '<= 1.0')}`);
  if (runDirect && runGateway) log(`  (b)/(a) msgs/s              ${ratio(results.b, results.a, (r) => r.msgsPerSec, '>= 0.7')}`);
  // Where the server CPU goes: the median per process, so a regression points at its process.
  for (const [k, rs] of Object.entries(results)) {
    if (rs.length === 0) continue;
    const split = [...rs[0]!.cpuUsPerMsgByPid.keys()].map((pid) => `${names.get(pid)} ${fmt(median(rs.map((r) => r.cpuUsPerMsgByPid.get(pid)!)), 1)}`);
    log(`  (${k}) server CPU µs/msg by process: ${split.join(', ')}; consumer processes ${fmt(median(rs.map((r) => r.clientCpuUsPerMsg)), 1)}`);
  }
  log('p50/p99 are per receive call (up to 32 messages); server CPU: (a) brokers + NameServer, (b) + gateway, (c) nats-server');
  log(
    'durability: CirrusMQ ASYNC_FLUSH (ack after the write, fdatasync every 500 ms); JetStream file store (ack after the write, fsync every 2 min by default)',
  );
  log(`JetStream acks are nats.js ack() (a publish the server does not answer); CirrusMQ acks are answered requests (ackAll, one per broker per batch)`);
  log(
    values['await-acks']
      ? 'acks: (a) and (b) wait for each batch ack before the next receive (--await-acks)'
      : 'acks: (a) and (b) start the next receive beside the batch ack; through the gateway the receive carries it (one request per batch)',
  );

  const latencyContext = {
    ...{ cluster, nats, nameServerAddr, gateway, latencyProducer, createTopic, startWorker, log, body },
    ...{ batch: BATCH, latencyMs, latencyWarmupMs, latencyConsumers },
  };
  await runLatency(latencyContext, latencySystems, latencyRates, runs);
  log('');
  log(`load average at the end: ${load()}`);
} finally {
  producer.shutdown();
  latencyProducer.shutdown();
  await nats?.stop();
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/** Sends batches of BATCH, `inFlight` at a time, until `count` messages are stored; returns how many. */
async function inParallel(inFlight: number, count: number, sendBatch: () => Promise<unknown>): Promise<number> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (sent < count) {
        sent += BATCH;
        await sendBatch();
      }
    }),
  );
  return sent;
}

async function createTopic(topic: string): Promise<void> {
  const res = await fetch(`${cluster.gatewayUrl}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, queues: 4 }),
  });
  if (res.status >= 300) throw new Error(`create topic ${topic}: ${res.status} ${await res.text()}`);
}

/** A consumer process (consume-worker.ts) and its JSON lines. */
export interface ConsumeWorker {
  child: ChildProcess;
  /** The next JSON line of the given type. */
  next(type: string): Promise<any>;
  send(line: string): void;
  /** The last line of each type. */
  readonly latest: Map<string, any>;
}

function startWorker(spec: Omit<WorkerSpec, 'resultFile'>): ConsumeWorker {
  const resultFile = path.join(dataDir, `consume-worker-${++workerCount}.json`);
  const child = spawn(
    process.execPath,
    [...WORKER_NODE_FLAGS, '--conditions=cirrusmq-source', '--import', 'tsx', WORKER, JSON.stringify({ ...spec, resultFile })],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const waiting = new Map<string, ((v: any) => void)[]>();
  const latest = new Map<string, any>();
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: any;
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`worker: ${line}\n`);
      return;
    }
    if (msg.type === 'result') msg = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
    latest.set(msg.type, msg);
    for (const resolve of waiting.get(msg.type) ?? []) resolve(msg);
    waiting.delete(msg.type);
  });
  // 'close', not 'exit': it follows the end of the worker's stdout, so a result line written
  // just before the worker exits is read first ('exit' can come before it and lose the result).
  const exited = new Promise<never>((_, reject) => child.once('close', (code) => reject(new Error(`consume worker exited with ${code}`))));
  exited.catch(() => undefined);
  return {
    child,
    next: (type) => Promise.race([new Promise((resolve) => waiting.set(type, [...(waiting.get(type) ?? []), resolve])), exited]),
    send: (line) => child.stdin!.write(line + '\n'),
    latest,
  };
}

async function throughputRun(p: { mode: WorkerSpec['mode']; address: string; group: string }, serverPids: number[], runMs = durationMs): Promise<RunResult> {
  const spec = { ...p, topic: 'bench', durationMs: runMs, batch: BATCH, awaitMs: 1000, awaitAcks: values['await-acks'] };
  const workers = Array.from({ length: consumers }, () => startWorker(spec));
  await Promise.all(workers.map((w) => w.next('ready')));
  const calls0 = p.mode === 'gateway' ? await gatewayCounters() : undefined;
  const cpu0 = cpuSeconds(withChildren(serverPids));
  const each0 = serverPids.map((pid) => cpuSeconds(withChildren([pid])));
  const jiffies0 = machineJiffies();
  const sys0 = serverPids.map(syscalls);
  const done = workers.map((w) => w.next('result') as Promise<WorkerResult>);
  for (const w of workers) w.send('go');
  const rs = await Promise.all(done);
  const cpu1 = cpuSeconds(withChildren(serverPids));
  const each1 = serverPids.map((pid) => cpuSeconds(withChildren([pid])));
  const jiffies1 = machineJiffies();
  const sys1 = serverPids.map(syscalls);
  const calls1 = calls0 ? await gatewayCounters() : undefined;
  const acked = rs.reduce((a, r) => a + r.acked, 0);
  const latencies = rs.flatMap((r) => r.receiveMs).sort((a, b) => a - b);
  const empty = rs.reduce((a, r) => a + r.emptyReceives, 0);
  if (acked >= stored) log(`  warning: ${p.mode} read every stored message (${fmt(acked)}); msgs/s counts up to its last ack`);
  return {
    msgsPerSec: acked / (Math.max(...rs.map((r) => r.elapsedMs)) / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    acked,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    empty,
    cpuUsPerMsg: ((cpu1 - cpu0) / acked) * 1e6,
    cpuUsPerMsgByPid: new Map(serverPids.map((pid, i) => [pid, ((each1[i]! - each0[i]!) / acked) * 1e6])),
    clientCpuUsPerMsg: rs.reduce((a, r) => a + r.cpuUs, 0) / acked,
    syscallsPerMsgByPid: new Map(serverPids.map((pid, i) => [pid, (sys1[i]! - sys0[i]!) / acked])),
    idlePct: (100 * (jiffies1.idle - jiffies0.idle)) / (jiffies1.total - jiffies0.total),
    gatewayCalls:
      calls0 && calls1
        ? {
            receives: calls1.receives - calls0.receives,
            acks: calls1.acks - calls0.acks,
            brokerAcks: calls1.brokerAcks === undefined || calls0.brokerAcks === undefined ? undefined : calls1.brokerAcks - calls0.brokerAcks,
          }
        : undefined,
  };
}
