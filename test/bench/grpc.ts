/**
 * npm run bench:grpc [-- --seconds 8 --runs 3 --processes 4 --inflight 64 --messages 300000]
 *
 * The RocketMQ 5 gRPC endpoint (grpc-proxy/, the official Node client rocketmq-client-nodejs)
 * beside the project's own SDK (@cirrusmq/client, straight to the brokers), in one run, 1 KB
 * messages, each load loop in its own process (grpc-worker.ts), runs interleaved A B A B:
 *   send:    (a) SDK Producer.sendBatch of 32         (b) official Producer.send, one message a call
 *            the same messages in flight per process (--inflight): (a) inflight/32 batches, (b) inflight sends;
 *            and (c) SDK Producer.send of one message, inflight sends: batching apart from the protocol
 *            (d) lean gRPC client (grpc-lean.ts: raw grpc-js, no official client) SendMessage of one
 *            message, inflight sends as (b); (e) the same with 32 messages a call, as (a)
 *   receive: (a) SDK SimpleConsumer receive 32 + ackAll (b) official SimpleConsumer receive 32 + ack each
 *            (d) lean gRPC ReceiveMessage 32 + one AckMessage of them all
 *            one loop per process; each run reads with fresh groups from the first stored message
 * Per run: acknowledged msgs/s (sends answered OK, acks answered OK; nothing else counts),
 * p50/p99 per call, and the SERVER CPU per message: utime+stime from /proc of the brokers and
 * the NameServer, plus the gRPC proxy for (b), (d), (e) — the extra hop's cost is counted against
 * it; and the proxy's RPCs per message by method (from its /metrics), which shows whether a
 * client makes calls beyond the ones the load asks for (route re-queries, retries, heartbeats).
 * Then the ratio (b)/(a) of msgs/s, median of the per-run ratios (target >= 0.8).
 *
 * Seals (--seal avoid, the default): a CommitLog segment that seals during a run starts its
 * tier upload beside the load. Before each run, a broker with less room left in its segment
 * than a run writes (+25%, measured in the warm-up) is filled up to its segment's end with
 * messages of another topic, and the run waits until that segment is tiered. The receive runs
 * keep their stored messages (bench:produce gives its brokers fresh stores instead). Each run
 * line says whether a segment sealed during it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GatewayClient, Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { startTestCluster } from '../support/cluster';
import type { GrpcWorkerResult, GrpcWorkerSpec } from './grpc-worker';
import { sample } from '../support/prometheus-text';
import { cpuSeconds, systemSeconds, withChildren } from './proc-cpu';
import { fmt, median, percentile } from './stats';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    processes: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '64' },
    messages: { type: 'string', default: '300000' },
    modes: { type: 'string' },
    seal: { type: 'string', default: 'avoid' },
    segment: { type: 'string', default: '1024' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:grpc -- [--seconds S (per run, 8)] [--runs N (3)] [--processes P (load processes per run, 4)]\n' +
      '  [--inflight M (messages in flight per sending process, 64)] [--messages K (pre-stored for the receive runs, 300000)]\n' +
      '  [--modes m1,m2 (only these load modes, e.g. lean-send,lean-receive to profile the proxy; default all:\n' +
      '   sdk-send grpc-send sdk-send-one lean-send lean-send-batch sdk-receive grpc-receive lean-receive)]\n' +
      '  [--seal avoid|allow (avoid: before a run that could seal a CommitLog segment, fill it up and wait for its tier upload)]\n' +
      '  [--segment MiB (CommitLog segment size, 1024 as the broker default)]',
  );
  process.exit(0);
}
const durationMs = Number(values.seconds) * 1000;
const runs = Number(values.runs);
const processes = Number(values.processes);
const inflight = Number(values.inflight);
const stored = Number(values.messages);
const BATCH = 32;
const MSG_BYTES = 1024;
const WARMUP_MS = 2000;
const TOPIC = 'bench';
const SEGMENT = Number(values.segment) * 1024 * 1024;
const AVOID_SEALS = values.seal !== 'allow';
const FILLER_TOPIC = 'bench-filler';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(HERE, 'grpc-worker.ts');
const ROOT = path.resolve(HERE, '../..');

const log = (s: string) => process.stdout.write(`${s}\n`);
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
let workerCount = 0;
/** Messages in the topic: the pre-stored ones and every send run's. */
let storedTotal = 0;
/** --seal avoid: the most a run has written to one broker (bytes), warm-ups included; fills before runs. */
let maxRunBytes = 0;
let fills = 0;

log(
  `bench:grpc: ${MSG_BYTES} B messages, ${processes} load processes, ${inflight} messages in flight per sending process, receive ${BATCH}, ${durationMs / 1000}s per run, ${runs} run(s); ${os.cpus().length} cores; load average ${load()}`,
);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-grpc-'));
// Production-like store (the broker's defaults), as bench:consume.
const cluster = await startTestCluster({
  dataDir,
  grpcProxy: true,
  env: {
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(SEGMENT),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
  },
});
const nameServerAddr = `${cluster.config.host}:${cluster.config.nameServerPort}`;
const grpcEndpoint = cluster.grpcProxyEndpoint!;
const gateway = new GatewayClient(cluster.gatewayUrl);
const producer = new Producer({ nameServer: nameServerAddr });

interface RunResult {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  done: number;
  errors: number;
  cpuUsPerMsg: number;
  proxyCpuUsPerMsg: number;
  /** The kernel's part of proxyCpuUsPerMsg (socket reads and writes; on loopback a write carries the receiver's TCP work). */
  proxySysUsPerMsg: number;
  /** The load processes' own CPU per message: the client library's cost. */
  clientCpuUsPerMsg: number;
  /** gRPC modes: the proxy's calls per message, by method (unary RPCs answered, streams started). */
  rpcsPerMsg: Record<string, number>;
  /** Brokers whose CommitLog sealed a segment during the run. */
  sealed: string[];
}

type Mode = GrpcWorkerSpec['mode'];
const chosen = (m: Mode) => !values.modes || values.modes.split(',').includes(m);
const SEND_MODES = (['sdk-send', 'grpc-send', 'sdk-send-one', 'lean-send', 'lean-send-batch'] as const).filter(chosen);
const RECEIVE_MODES = (['sdk-receive', 'grpc-receive', 'lean-receive'] as const).filter(chosen);
const LABELS: Record<Mode, string> = {
  'sdk-send': '(a) send: SDK sendBatch 32',
  'grpc-send': '(b) send: official Producer.send over gRPC',
  'sdk-send-one': '(c) send: SDK Producer.send, one a call',
  'lean-send': '(d) send: lean gRPC SendMessage, one a call',
  'lean-send-batch': '(e) send: lean gRPC SendMessage, 32 a call',
  'sdk-receive': '(a) receive+ack: SDK SimpleConsumer',
  'grpc-receive': '(b) receive+ack: official SimpleConsumer',
  'lean-receive': '(d) receive+ack: lean gRPC, one AckMessage',
};
const isGrpc = (mode: Mode) => mode.startsWith('grpc') || mode.startsWith('lean');

try {
  const res = await fetch(`${cluster.gatewayUrl}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: TOPIC, queues: 4 }),
  });
  if (res.status >= 300) throw new Error(`create topic: ${res.status} ${await res.text()}`);
  if (AVOID_SEALS) {
    const filler = await fetch(`${cluster.gatewayUrl}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: FILLER_TOPIC, queues: 4 }),
    });
    if (filler.status >= 300) throw new Error(`create topic: ${filler.status} ${await filler.text()}`);
  }
  const body = Buffer.alloc(MSG_BYTES, 'cirrusmq-benchmark-payload-');
  const batch = Array.from({ length: BATCH }, () => ({ topic: TOPIC, body, tags: 'TagA' }));
  const t0 = performance.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < stored) {
        sent += BATCH;
        await producer.sendBatch(batch);
      }
    }),
  );
  storedTotal = sent;
  log(`stored ${fmt(sent)} messages for the receive runs in ${fmt((performance.now() - t0) / 1000, 1)} s`);

  // Warm-up (JIT of every path, connections), not counted.
  for (const mode of SEND_MODES) await run(mode, 'unused', WARMUP_MS);
  for (const mode of RECEIVE_MODES) {
    const group = `warmup-${mode}`;
    await gateway.putGroup(group, { consumeFrom: 'earliest' });
    await run(mode, group, WARMUP_MS);
  }

  const results = Object.fromEntries(Object.keys(LABELS).map((m) => [m, [] as RunResult[]])) as Record<Mode, RunResult[]>;
  for (let i = 1; i <= runs; i++) {
    for (const mode of SEND_MODES) {
      await keepSealsOut();
      results[mode].push(await run(mode, 'unused'));
    }
    log(`send run ${i}/${runs}   load ${load()}`);
    for (const mode of SEND_MODES) log(`  ${LABELS[mode].padEnd(44)} ${brief(results[mode].at(-1)!)}`);
  }
  for (let i = 1; i <= runs; i++) {
    for (const mode of RECEIVE_MODES) {
      await gateway.putGroup(`bench-${mode}-${i}`, { consumeFrom: 'earliest' });
      await keepSealsOut();
      results[mode].push(await run(mode, `bench-${mode}-${i}`));
    }
    log(`receive run ${i}/${runs}   load ${load()}`);
    for (const mode of RECEIVE_MODES) log(`  ${LABELS[mode].padEnd(44)} ${brief(results[mode].at(-1)!)}`);
  }

  log('');
  log(`medians of ${runs} run(s)                             msgs/s   p50 ms   p99 ms   server CPU µs/msg (proxy)   client CPU µs/msg  errors`);
  const row = (name: string, rs: RunResult[]) => {
    const m = (f: (r: RunResult) => number, digits = 1) => fmt(median(rs.map(f)), digits);
    const cells = [
      m((r) => r.msgsPerSec, 0).padStart(8),
      m((r) => r.p50Ms, 2).padStart(7),
      m((r) => r.p99Ms, 2).padStart(7),
      `${m((r) => r.cpuUsPerMsg)} (${m((r) => r.proxyCpuUsPerMsg)})`.padStart(24),
      m((r) => r.clientCpuUsPerMsg).padStart(17),
      String(rs.reduce((a, r) => a + r.errors, 0)).padStart(6),
    ];
    log(`${name.padEnd(44)} ${cells.join('  ')}`);
  };
  for (const mode of [...SEND_MODES, ...RECEIVE_MODES]) row(LABELS[mode], results[mode]);
  log('');
  log("calls per message (median): the proxy's by method, and the brokers' send, pop and ack requests");
  for (const mode of [...SEND_MODES, ...RECEIVE_MODES]) {
    const methods = [...new Set(results[mode].flatMap((r) => Object.keys(r.rpcsPerMsg)))].sort();
    log(`  ${LABELS[mode].padEnd(44)} ${methods.map((m) => `${m} ${fmt(median(results[mode].map((r) => r.rpcsPerMsg[m] ?? 0)), 3)}`).join(', ')}`);
  }
  log('');
  const ratio = (b: RunResult[], a: RunResult[], f: (r: RunResult) => number) => {
    if (b.length === 0 || a.length === 0) return '-   (a mode left out by --modes)';
    const perRun = b.map((r, i) => f(r) / f(a[i]!));
    return `${fmt(median(perRun), 2)}   (runs: ${perRun.map((v) => fmt(v, 2)).join(', ')})`;
  };
  log('ratios (b)/(a), median of per-run ratios:');
  log(`  send msgs/s                ${ratio(results['grpc-send'], results['sdk-send'], (r) => r.msgsPerSec)}   target >= 0.8`);
  log(`  receive+ack msgs/s         ${ratio(results['grpc-receive'], results['sdk-receive'], (r) => r.msgsPerSec)}   target >= 0.8`);
  log(`  send server CPU/msg        ${ratio(results['grpc-send'], results['sdk-send'], (r) => r.cpuUsPerMsg)}`);
  log(`  send msgs/s (b)/(c)        ${ratio(results['grpc-send'], results['sdk-send-one'], (r) => r.msgsPerSec)}   (one message a call on both sides)`);
  log(`  receive server CPU/msg     ${ratio(results['grpc-receive'], results['sdk-receive'], (r) => r.cpuUsPerMsg)}`);
  log("ratios of the lean gRPC client (what the endpoint carries without the official client's own cost):");
  log(`  send msgs/s (d)/(c)        ${ratio(results['lean-send'], results['sdk-send-one'], (r) => r.msgsPerSec)}   (one message a call on both sides)`);
  log(`  send msgs/s (e)/(a)        ${ratio(results['lean-send-batch'], results['sdk-send'], (r) => r.msgsPerSec)}   (32 a call on both sides)`);
  log(`  receive+ack msgs/s (d)/(a) ${ratio(results['lean-receive'], results['sdk-receive'], (r) => r.msgsPerSec)}`);
  log(
    'p50/p99 per call: (a), (e) send = a batch of 32, (b), (c), (d) send = one message; receive = receive + its acks. Server CPU: brokers + NameServer, + the gRPC proxy for (b), (d), (e) (its share in parentheses); client CPU: the load processes.',
  );
  const sealedRuns = Object.values(results)
    .flat()
    .filter((r) => r.sealed.length > 0).length;
  log(
    `segment seals during measured runs: ${sealedRuns} (--seal ${AVOID_SEALS ? `avoid: ${fills} fill(s) before runs` : 'allow'}; ${SEGMENT / 1024 / 1024} MiB segments)`,
  );
  log(`load average at the end: ${load()}`);
} finally {
  producer.shutdown();
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function brief(r: RunResult): string {
  const proxy = r.proxyCpuUsPerMsg > 0 ? ` (proxy ${fmt(r.proxyCpuUsPerMsg, 1)}, its kernel part ${fmt(r.proxySysUsPerMsg, 1)})` : '';
  const sealed = r.sealed.length > 0 ? `  SEALED ${r.sealed.join(' ')}` : '';
  return `${fmt(r.msgsPerSec)} msg/s, CPU/msg ${fmt(r.cpuUsPerMsg, 1)} µs server${proxy} ${fmt(r.clientCpuUsPerMsg, 1)} µs client${r.errors ? ` ${r.errors} errors` : ''}${sealed}`;
}

interface Worker {
  child: ChildProcess;
  next(type: string): Promise<any>;
  send(line: string): void;
}

function startWorker(spec: Omit<GrpcWorkerSpec, 'resultFile'>): Worker {
  const resultFile = path.join(dataDir, `grpc-worker-${++workerCount}.json`);
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', WORKER, JSON.stringify({ ...spec, resultFile })], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = new Map<string, ((v: any) => void)[]>();
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: any;
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`worker: ${line}\n`);
      return;
    }
    if (msg.type === 'result') msg = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
    for (const resolve of waiting.get(msg.type) ?? []) resolve(msg);
    waiting.delete(msg.type);
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`grpc worker (${spec.mode}) exited with ${code}`))));
  exited.catch(() => undefined);
  return {
    child,
    next: (type) => Promise.race([new Promise((resolve) => waiting.set(type, [...(waiting.get(type) ?? []), resolve])), exited]),
    send: (line) => child.stdin!.write(`${line}\n`),
  };
}

async function run(mode: Mode, group: string, runMs = durationMs): Promise<RunResult> {
  const address = isGrpc(mode) ? grpcEndpoint : nameServerAddr;
  const spec = { mode, address, topic: TOPIC, group, durationMs: runMs, batch: BATCH, inflight, bodyBytes: MSG_BYTES, awaitMs: 1000 };
  const workers = Array.from({ length: processes }, () => startWorker(spec));
  await Promise.all(workers.map((w) => w.next('ready')));
  const pids = serverPids(mode);
  const proxyPid = cluster.pid('grpc-proxy')!;
  const rpcs0 = isGrpc(mode) ? await proxyCalls() : {};
  const broker0 = await brokerRequests();
  const logs0 = await brokerLogs();
  const cpu0 = cpuSeconds(withChildren(pids));
  const proxy0 = cpuSeconds([proxyPid]);
  const proxySys0 = systemSeconds([proxyPid]);
  const done = workers.map((w) => w.next('result') as Promise<GrpcWorkerResult>);
  for (const w of workers) w.send('go');
  const rs = await Promise.all(done);
  const cpu1 = cpuSeconds(withChildren(pids));
  const proxy1 = cpuSeconds([proxyPid]);
  const proxySys1 = systemSeconds([proxyPid]);
  const rpcs1 = isGrpc(mode) ? await proxyCalls() : {};
  const broker1 = await brokerRequests();
  const logs1 = await brokerLogs();
  const sealed: string[] = [];
  for (const [broker, b0] of logs0) {
    const b1 = logs1.get(broker)!;
    if (Math.floor(b1.maxOffset / SEGMENT) > Math.floor(b0.maxOffset / SEGMENT)) sealed.push(broker);
    // The most one run of any mode writes to one broker, scaled to a measured run (warm-ups are shorter).
    maxRunBytes = Math.max(maxRunBytes, ((b1.maxOffset - b0.maxOffset) * durationMs) / runMs);
  }
  for (const kind of mode.endsWith('receive') ? (['pop', 'ack'] as const) : (['send'] as const))
    rpcs1[`(broker ${kind} requests)`] = broker1[kind] - broker0[kind];
  const total = rs.reduce((a, r) => a + r.done, 0);
  const samples = rs.flatMap((r) => r.errorSamples);
  if (samples.length > 0) log(`  ${mode}: errors, e.g. ${[...new Set(samples)].slice(0, 3).join(' | ')}`);
  if (!mode.endsWith('receive')) storedTotal += total;
  else if (total >= storedTotal) log(`  warning: ${mode} read every stored message (${fmt(total)}); msgs/s counts up to its last ack`);
  const calls = rs.flatMap((r) => r.callMs).sort((a, b) => a - b);
  return {
    msgsPerSec: total / (Math.max(...rs.map((r) => r.elapsedMs)) / 1000),
    p50Ms: percentile(calls, 50),
    p99Ms: percentile(calls, 99),
    done: total,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    cpuUsPerMsg: ((cpu1 - cpu0) / total) * 1e6,
    proxyCpuUsPerMsg: isGrpc(mode) ? ((proxy1 - proxy0) / total) * 1e6 : 0,
    proxySysUsPerMsg: isGrpc(mode) ? ((proxySys1 - proxySys0) / total) * 1e6 : 0,
    clientCpuUsPerMsg: rs.reduce((a, r) => a + r.clientCpuUs, 0) / total,
    rpcsPerMsg: Object.fromEntries(
      Object.entries(rpcs1)
        .map(([m, n]) => [m, (n - (rpcs0[m] ?? 0)) / Math.max(1, total)] as const)
        .filter(([, v]) => v > 0),
    ),
    sealed,
  };
}

/** Each broker's CommitLog end and the end of what it has tiered (its /metrics). */
async function brokerLogs(): Promise<Map<string, { maxOffset: number; tierMaxOffset: number }>> {
  const out = new Map<string, { maxOffset: number; tierMaxOffset: number }>();
  for (const b of cluster.config.brokers) {
    const text = await (await fetch(`${cluster.brokerUrl(b.brokerName)}/metrics`)).text();
    out.set(b.brokerName, { maxOffset: metricSum(text, 'cirrusmq_commitlog_max_offset'), tierMaxOffset: metricSum(text, 'cirrusmq_tier_max_offset') });
  }
  return out;
}

/** The sum of a metric's samples over its label sets (0 when absent): one broker's gauge carries its broker label. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/**
 * --seal avoid: when a broker's segment has less room than a run writes (+25%), fills it to
 * its end with messages of FILLER_TOPIC (never read by the receive runs), then waits until the
 * sealed segment is tiered, so the next run neither seals nor shares the cores with an upload.
 */
async function keepSealsOut(): Promise<void> {
  if (!AVOID_SEALS) return;
  const need = maxRunBytes * 1.25;
  if (need > SEGMENT / 2) {
    log(`  a run writes up to ${fmt(maxRunBytes / 1024 / 1024)} MiB per broker: too much to keep seals out of ${SEGMENT / 1024 / 1024} MiB segments`);
    return;
  }
  const state = await brokerLogs();
  const boundaries = new Map<string, number>();
  for (const [broker, s] of state) if (SEGMENT - (s.maxOffset % SEGMENT) < need) boundaries.set(broker, (Math.floor(s.maxOffset / SEGMENT) + 1) * SEGMENT);
  if (boundaries.size === 0) return;
  const t0 = performance.now();
  const body = Buffer.alloc(MSG_BYTES, 'cirrusmq-benchmark-filler-');
  const batch = Array.from({ length: BATCH }, () => ({ topic: FILLER_TOPIC, body }));
  const crossed = async () => {
    const now = await brokerLogs();
    return [...boundaries].every(([broker, end]) => now.get(broker)!.maxOffset >= end);
  };
  // Batches go round the topic's queues on every broker; a broker already past its boundary takes a few more.
  while (!(await crossed())) {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 64; i++) await producer.sendBatch(batch);
      }),
    );
  }
  await waitFor('the filled segments to be tiered', 300_000, async () => {
    const now = await brokerLogs();
    return [...boundaries].every(([broker, end]) => now.get(broker)!.tierMaxOffset >= end);
  });
  fills++;
  log(
    `  keeping seals out: filled ${[...boundaries.keys()].join(', ')} to the end of the segment and waited for its tier upload (${fmt((performance.now() - t0) / 1000, 1)} s)`,
  );
}

function serverPids(mode: Mode): number[] {
  const store = ['nameserver', ...cluster.config.brokers.map((b) => b.brokerName)].map((n) => cluster.pid(n)!);
  return isGrpc(mode) ? [...store, cluster.pid('grpc-proxy')!] : store;
}

/** Send, pop and ack requests the brokers have answered so far (their /metrics): how far one-message calls were merged. */
async function brokerRequests(): Promise<Record<'send' | 'pop' | 'ack', number>> {
  const n = { send: 0, pop: 0, ack: 0 };
  for (const b of cluster.config.brokers) {
    const text = await (await fetch(`${cluster.brokerUrl(b.brokerName)}/metrics`)).text();
    for (const m of text.matchAll(/^cirrusmq_broker_(send|pop|ack)_duration_seconds_count(?:\{[^}]*\})? (\S+)$/gm)) n[m[1] as 'send'] += Number(m[2]);
  }
  return n;
}

/** Calls the proxy has taken so far, by method: unary RPCs answered and streams started (its /metrics). */
async function proxyCalls(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${cluster.config.host}:${cluster.config.grpcProxy!.healthPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cirrusmq_grpc_proxy_rpc_duration_seconds_count\{([^}]*)\} (\S+)$/gm)) {
    const method = /method="([^"]*)"/.exec(m[1]!)?.[1] ?? '?';
    out[method] = (out[method] ?? 0) + Number(m[2]);
  }
  for (const method of ['ReceiveMessage', 'Telemetry']) out[method] = sample(text, 'cirrusmq_grpc_proxy_streams_total', { method }) ?? 0;
  return out;
}
