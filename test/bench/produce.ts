/**
 * npm run bench:produce [-- --seconds 10 --runs 5 --warmup-seconds 3 --rate-seconds 5 --segment 2g
 *                          --systems gateway,direct,jetstream,sync,redis-always]
 *
 * 1 KB messages, 512 in flight for every system, each load generator in its own process:
 *   gateway         wrk -c16 POSTing JSON batches of 32 (produce-wrk.lua counts SEND_OK per result)
 *                   to the gateway of an ASYNC_FLUSH cluster (NameServer, broker-a, broker-b)
 *   direct          the SDK Producer, 16 loops of sendBatch(32), to the same brokers (produce-worker.ts);
 *                   autoBatch with 16 requests in flight per topic (--direct-producer), so only a backlog merges
 *   direct-plain    (optional) the same with the SDK's defaults (autoBatch off)
 *   jetstream       nats-server, file-store stream, a lean client: core publish with a reply
 *                   inbox, one subscription for the stream acks (jetstream-lean.ts)
 *   sync            the SDK Producer as `direct`, to a second cluster with SYNC_FLUSH brokers
 *   redis-always    Redis Streams, XADD pipelined, appendfsync always: the peer that acks after fsync
 *   redis-everysec  (optional) Redis Streams, appendfsync everysec: a second ASYNC peer
 * Runs alternate between the systems (the first system of each run rotates, so none always
 * runs last), with `sync` between runs so no run pays for another's dirty pages. Only what was
 * acknowledged counts (SEND_OK per message, a stream ack, an XADD id); failures are reported.
 * Per run: msgs/s, server CPU per message (utime+stime from /proc of the system's server
 * processes over the run / acknowledged messages), the load generator's CPU per message, and
 * whether a CommitLog segment sealed or the tier uploaded during it. Then the medians of the
 * per-run ratios against the targets of issue 12, and a fixed-rate run (OpenMessaging
 * Benchmark style) per system at 50% of its median throughput: p50 / p99 / p99.9 latency.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HttpClient } from '@cirrusmq/client/protocol';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { startTestCluster } from '../support/cluster';
import { loopTraceSummary } from './loop-trace-summary';
import { hasNatsServer, NatsPeer } from './nats-peer';
import { cpuSeconds, withChildren } from './proc-cpu';
import type { ProduceResult, ProduceRun, ProduceWorkerSpec } from './produce-worker';
import { hasRedisServer, RedisPeer } from './redis-peer';
import { fmt, median } from './stats';
import { hasWrk, wrkPost } from './wrk';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    'warmup-seconds': { type: 'string', default: '3' },
    'rate-seconds': { type: 'string', default: '5' },
    segment: { type: 'string', default: '2g' },
    seal: { type: 'string', default: 'avoid' },
    systems: { type: 'string', default: 'gateway,direct,jetstream,sync,redis-always' },
    rates: { type: 'string' },
    'rate-runs': { type: 'string', default: '1' },
    'server-node-options': { type: 'string', default: '' },
    'client-node-options': { type: 'string', default: '--initial-old-space-size=64' },
    'direct-producer': { type: 'string', default: '{"autoBatch":true,"maxInflightPerTopic":16}' },
    'loop-trace': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:produce -- [--seconds S (per run, 10)] [--runs N (3)] [--warmup-seconds S (3)] [--rate-seconds S (5; 0 skips the fixed-rate runs)]\n' +
      '  [--segment 2g (CommitLog segment size; 1g is the broker default)] [--seal avoid|allow (avoid: fresh broker stores before a run that could seal)]\n' +
      '  [--systems gateway,direct,jetstream,sync,redis-always[,redis-everysec]]\n' +
      '  [--rates direct=64000,jetstream=41000 (skips the throughput runs: fixed-rate runs only, at these rates)] [--rate-runs N (1; fixed-rate runs alternate between the systems)]\n' +
      "  [--server-node-options '--max-semi-space-size=2' (NODE_OPTIONS for the CirrusMQ clusters' processes; none by default)]\n" +
      "  [--client-node-options '--initial-old-space-size=64' (node flags for every system's load generator alike; '' for V8's defaults)]\n" +
      '  [--direct-producer \'{"autoBatch":true,"maxInflightPerTopic":16}\' (SDK Producer options of the direct and sync workers; \'{}\' for its defaults)] [--systems …,direct-plain (the SDK defaults beside direct)]\n' +
      '  [--loop-trace DIR (every process writes its event-loop delay, GC and fs calls per second to DIR: loop-trace.mjs; a summary at the end)]',
  );
  process.exit(0);
}
const MiB = 1024 * 1024;
const durationMs = Number(values.seconds) * 1000;
const runs = Number(values.runs);
const warmupMs = Number(values['warmup-seconds']) * 1000;
const rateMs = Number(values['rate-seconds']) * 1000;
const SEGMENT = parseSize(values.segment!);
const AVOID_SEALS = values.seal !== 'allow';
const wanted = new Set(values.systems!.split(','));
/** --rates: given fixed rates per system instead of 50% of measured medians (no throughput runs). */
const givenRates = values.rates ? new Map(values.rates.split(',').map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])])) : undefined;
const rateRuns = Number(values['rate-runs']);
const BATCH = 32;
const IN_FLIGHT = 512;
const MSG_BYTES = 1024;
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'produce-worker.ts');
/**
 * Node flags for every load generator alike. With V8's defaults a small heap (~10 MB old
 * space) next to a 16 MiB-semi-space young generation leaves the old generation less slack
 * than the young one holds, so V8 starts incremental marking and a mark-compact every
 * ~200 ms (seen with --trace-gc / --trace-incremental-marking in the SDK worker and the
 * brokers during rate runs); a 64 MB initial old space keeps it to scavenges.
 */
/**
 * The SDK Producer of the direct and sync workers: autoBatch with 16 requests of a topic in
 * flight, as many as the 16 loops of a throughput run keep, so those never merge; in a
 * fixed-rate run batches merge only once more than 16 are outstanding (a stall of the worker
 * or a broker), and the catch-up then pays a request's costs once per several batches. With
 * the defaults (autoBatch off, `direct-plain`) each of the hundreds of batches a stall leaves
 * due is a request of its own, and on a busy machine the brokers fall behind for good:
 * docs/benchmarks.md, "Fixed rate".
 */
const DIRECT_PRODUCER = JSON.parse(values['direct-producer']!) as ProduceWorkerSpec['producer'];
/** --loop-trace: loop-trace.mjs preloaded in every process (servers through NODE_OPTIONS); it writes where the variable says. */
const LOOP_TRACE = values['loop-trace'] ? path.resolve(values['loop-trace']) : undefined;
const LOOP_TRACE_IMPORT = ['--import', path.join(path.dirname(fileURLToPath(import.meta.url)), 'loop-trace.mjs')];
if (LOOP_TRACE) {
  fs.mkdirSync(LOOP_TRACE, { recursive: true });
  process.env.CIRRUSMQ_LOOP_TRACE_DIR = LOOP_TRACE;
}
const WORKER_NODE_FLAGS = [
  ...(values['client-node-options'] ? values['client-node-options'].split(' ').filter(Boolean) : []),
  ...(LOOP_TRACE ? LOOP_TRACE_IMPORT : []),
];
const SERVER_NODE_OPTIONS = [values['server-node-options'], ...(LOOP_TRACE ? LOOP_TRACE_IMPORT : [])].filter(Boolean).join(' ');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const log = (s: string) => process.stdout.write(s + '\n');
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function parseSize(s: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

interface System {
  key: string;
  label: string;
  durability: string;
  /** The processes whose CPU is the system's cost: name -> pid, read when a run starts (a renewed broker has a new pid). */
  servers: () => Map<string, number>;
  /** The CirrusMQ cluster it writes to, if any. */
  cluster?: ClusterEntry;
  throughput(ms: number): Promise<ProduceResult>;
  rate(msgsPerSec: number, ms: number): Promise<ProduceResult>;
  /** Outside the timed run (Redis: empty the in-memory stream). */
  beforeRun?: () => Promise<void>;
}

interface RunRecord {
  run: number;
  key: string;
  r: ProduceResult;
  msgsPerSec: number;
  serverCpuUs: number;
  serverCpuUsByName: Map<string, number>;
  clientCpuUs: number;
  sealed: string[];
  tierUploadMiB: number;
  load: string;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-produce-'));
interface ClusterEntry {
  name: string;
  cluster: LocalCluster;
  /** The most one run wrote to one broker so far (bytes of CommitLog). */
  maxRunBytes: number;
}
const clusters: ClusterEntry[] = [];
const workers: Worker[] = [];
const peers: { stop(): Promise<void> }[] = [];
let workerCount = 0;
let renewals = 0;

log(
  `bench:produce: ${MSG_BYTES} B messages, ${IN_FLIGHT} in flight per system (batches of ${BATCH}), ${durationMs / 1000} s per run, ${runs} run(s), ` +
    `${warmupMs / 1000} s warm-up per system; CommitLog segments ${fmt(SEGMENT / MiB)} MiB; ${os.cpus().length} cores; load average ${load()}`,
);

try {
  const systems = await startSystems();
  log(`systems: ${systems.map((s) => s.key).join(', ')}`);
  for (const s of systems) log(`  ${s.key.padEnd(15)} ${s.label}; durability: ${s.durability}`);

  // Warm-up: JIT of servers and clients, connections, routes. Not counted.
  for (const s of systems) await warmUp(s, true);

  const records: RunRecord[] = [];
  const gatewayNs: number[] = [];
  for (let run = 1; !givenRates && run <= runs; run++) {
    const order = systems.map((_, i) => systems[(i + run - 1) % systems.length]!);
    for (const s of order) {
      await s.beforeRun?.();
      await makeRoom(s, systems);
      settle();
      const ns0 = s.key === 'gateway' ? await gatewayNameServerCalls() : 0;
      const rec = await measured(run, s, () => s.throughput(durationMs));
      if (s.key === 'gateway') gatewayNs.push((await gatewayNameServerCalls()) - ns0);
      records.push(rec);
      log(
        `run ${run}/${runs} ${s.key.padEnd(15)} ${fmt(rec.msgsPerSec).padStart(9)} msg/s  server CPU ${fmt(rec.serverCpuUs, 2).padStart(6)} µs/msg  ` +
          `client CPU ${fmt(rec.clientCpuUs, 2).padStart(6)} µs/msg  p50 ${fmt(rec.r.p50Ms, 2)} p99 ${fmt(rec.r.p99Ms, 2)} ms  ` +
          `failed ${fmt(rec.r.failed)}  sealed ${rec.sealed.length ? rec.sealed.join(' ') : 'no'}  tier upload ${fmt(rec.tierUploadMiB)} MiB  load ${rec.load}` +
          (rec.r.failed ? `\n    failure: ${rec.r.firstFailure}` : ''),
      );
    }
  }
  if (!givenRates) report(systems, records, gatewayNs);

  if (rateMs > 0) {
    log('');
    log(
      `fixed rate (OpenMessaging Benchmark style): each system at ${givenRates ? 'the rate --rates gives' : '50% of its median throughput'}, batches of ${BATCH} sent when due whatever is outstanding, ` +
        `${rateMs / 1000} s measured after 1 s; latency per batch from when it was due to its last ack`,
    );
    const p99s: Record<string, number[]> = {};
    for (let rr = 1; rr <= rateRuns; rr++)
      for (const s of systems.map((_, i) => systems[(i + rr - 1) % systems.length]!)) {
        const rate = givenRates?.get(s.key) ?? Math.round(0.5 * median(records.filter((x) => x.key === s.key).map((x) => x.msgsPerSec)));
        if (!rate) continue;
        await s.beforeRun?.();
        await makeRoom(s, systems);
        settle();
        const rec = await measured(rr, s, () => s.rate(rate, rateMs));
        (p99s[s.key] ??= []).push(rec.r.p99Ms);
        log(
          `  ${rateRuns > 1 ? `${rr}/${rateRuns} ` : ''}${s.key.padEnd(15)} ${fmt(rate).padStart(8)} msg/s asked, ${fmt(rec.msgsPerSec).padStart(8)} acked: p50 ${fmt(rec.r.p50Ms, 2)}  p99 ${fmt(rec.r.p99Ms, 2)}  p99.9 ${fmt(rec.r.p999Ms, 2)} ms ` +
            `(${fmt(rec.r.samples)} batches; sender behind schedule at most ${fmt(rec.r.maxLagMs, 1)} ms; server CPU ${fmt(rec.serverCpuUs, 2)} µs/msg; client CPU ${fmt(rec.clientCpuUs, 2)} µs/msg; failed ${fmt(rec.r.failed)}` +
            `; sealed ${rec.sealed.length ? rec.sealed.join(' ') : 'no'}; load ${rec.load})` +
            (rec.r.failed ? `\n    failure: ${rec.r.firstFailure}` : ''),
        );
      }
    const p99: Record<string, number> = Object.fromEntries(Object.entries(p99s).map(([k, xs]) => [k, median(xs)]));
    if (rateRuns > 1 && p99s.direct && p99s.jetstream)
      log(`  p99 direct / JetStream per round: ${p99s.direct.map((d, i) => fmt(d / p99s.jetstream![i]!, 2)).join(', ')} (medians below)`);
    if (p99.direct !== undefined && p99.jetstream !== undefined) {
      const ratio = p99.direct / p99.jetstream;
      log(`  p99 at 50% load, direct / JetStream: ${fmt(ratio, 2)}   target <= 1.0: ${ratio <= 1 ? 'met' : 'NOT met'}`);
    }
    if (p99.sync !== undefined && p99['redis-always'] !== undefined)
      log(`  p99 at 50% load, SYNC_FLUSH direct / Redis appendfsync always: ${fmt(p99.sync / p99['redis-always'], 2)}`);
  }
  log('');
  if (LOOP_TRACE) for (const line of loopTraceSummary(LOOP_TRACE)) log(line);
  log(`load average at the end: ${load()}`);
} finally {
  for (const w of workers) w.stop();
  for (const p of peers) await p.stop().catch(() => undefined);
  for (const { cluster } of clusters) await cluster.stop().catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

async function startSystems(): Promise<System[]> {
  const systems: System[] = [];
  const clusterEnv = {
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(SEGMENT),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
    ...(SERVER_NODE_OPTIONS ? { NODE_OPTIONS: SERVER_NODE_OPTIONS } : {}),
  };
  if (wanted.has('gateway') || wanted.has('direct') || wanted.has('direct-plain')) {
    const cluster = await startTestCluster({ dataDir: path.join(dataDir, 'async'), env: clusterEnv });
    await createTopic(cluster);
    const entry: ClusterEntry = { name: 'async', cluster, maxRunBytes: 0 };
    clusters.push(entry);
    const brokers = ['nameserver', ...cluster.config.brokers.map((b) => b.brokerName)];
    const nameServer = `${cluster.config.host}:${cluster.config.nameServerPort}`;
    const ASYNC = 'ASYNC_FLUSH: ack after the write to the page cache, fdatasync every 500 ms';
    if (wanted.has('gateway')) {
      if (!hasWrk()) throw new Error('wrk not found (apt-get install wrk): the gateway is loaded by wrk');
      const url = `${cluster.gatewayUrl}/v1/topics/bench/messages`;
      const requestBody = JSON.stringify({ messages: Array.from({ length: BATCH }, () => ({ body: payload().toString('utf8'), tags: 'TagA' })) });
      const rateWorker = await startWorker({ mode: 'gateway', address: cluster.gatewayUrl, topic: 'bench' });
      systems.push({
        key: 'gateway',
        label: `wrk -t1 -c${IN_FLIGHT / BATCH}, JSON batches of ${BATCH}, to the gateway (HTTP), brokers as \`direct\`; fixed rate from a Node HTTP client`,
        durability: ASYNC,
        servers: () => namedPids(cluster, [...brokers, 'gateway']),
        cluster: entry,
        throughput: (ms) => wrkPost(url, requestBody, IN_FLIGHT / BATCH, ms, BATCH),
        rate: (rate, ms) => rateWorker.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
      });
    }
    if (wanted.has('direct-plain')) {
      // The SDK's defaults (autoBatch off): every sendBatch its own request, however many wait.
      const w = await startWorker({ mode: 'direct', address: nameServer, topic: 'bench', producer: {} });
      systems.push({
        key: 'direct-plain',
        label: `as \`direct\` with the SDK Producer's defaults (autoBatch off: a request per sendBatch however many wait)`,
        durability: ASYNC,
        servers: () => namedPids(cluster, brokers),
        cluster: entry,
        throughput: (ms) => w.run({ kind: 'throughput', durationMs: ms }),
        rate: (rate, ms) => w.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
      });
    }
    if (wanted.has('direct')) {
      const w = await startWorker({ mode: 'direct', address: nameServer, topic: 'bench', producer: DIRECT_PRODUCER });
      systems.push({
        key: 'direct',
        label: `SDK Producer ${JSON.stringify(DIRECT_PRODUCER)}, ${IN_FLIGHT / BATCH} loops of sendBatch(${BATCH}), 2 brokers x 4 queues`,
        durability: ASYNC,
        servers: () => namedPids(cluster, brokers),
        cluster: entry,
        throughput: (ms) => w.run({ kind: 'throughput', durationMs: ms }),
        rate: (rate, ms) => w.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
      });
    }
  }
  if (wanted.has('jetstream')) {
    if (!hasNatsServer()) throw new Error('nats-server not found (apt-get install nats-server)');
    const nats = await NatsPeer.start();
    peers.push(nats);
    const w = await startWorker({ mode: 'nats', address: nats.address, topic: 'bench.orders' });
    systems.push({
      key: 'jetstream',
      label: `nats-server ${natsVersion()}, file-store stream, lean client (core publish + reply inbox, one ack subscription), ${IN_FLIGHT} in flight`,
      // nats-server 2.9 has no sync_interval option (2.10 added it): `nats-server -t` refuses it.
      durability: 'file store: ack after the write to the page cache, fsync every 2 min (the default sync_interval)',
      servers: () => new Map([['nats-server', nats.pid!]]),
      throughput: (ms) => w.run({ kind: 'throughput', durationMs: ms }),
      rate: (rate, ms) => w.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
    });
  }
  if (wanted.has('sync')) {
    const cluster = await startTestCluster({ dataDir: path.join(dataDir, 'sync'), env: { ...clusterEnv, CIRRUSMQ_FLUSH_DISK_TYPE: 'SYNC_FLUSH' } });
    const entry: ClusterEntry = { name: 'sync', cluster, maxRunBytes: 0 };
    clusters.push(entry);
    await createTopic(cluster);
    const w = await startWorker({
      mode: 'direct',
      address: `${cluster.config.host}:${cluster.config.nameServerPort}`,
      topic: 'bench',
      producer: DIRECT_PRODUCER,
    });
    systems.push({
      key: 'sync',
      label: `SDK Producer as \`direct\`, to a second cluster whose brokers run SYNC_FLUSH`,
      durability: 'SYNC_FLUSH: ack after fdatasync (group commit); FLUSH_DISK_TIMEOUT counts as failed',
      servers: () => namedPids(cluster, ['nameserver', ...cluster.config.brokers.map((b) => b.brokerName)]),
      cluster: entry,
      throughput: (ms) => w.run({ kind: 'throughput', durationMs: ms }),
      rate: (rate, ms) => w.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
    });
  }
  for (const fsync of ['always', 'everysec'] as const) {
    if (!wanted.has(`redis-${fsync}`)) continue;
    if (!hasRedisServer()) throw new Error('redis-server not found (apt-get install redis-server)');
    const redis = await RedisPeer.start(fsync);
    peers.push(redis);
    const w = await startWorker({ mode: 'redis', address: redis.address, topic: 'bench' });
    systems.push({
      key: `redis-${fsync}`,
      label: `${redisVersion()}, Redis Streams XADD pipelined by a lean client, ${IN_FLIGHT} in flight`,
      durability:
        fsync === 'always'
          ? 'appendfsync always: the AOF is fsynced before the answers of each event-loop turn (group commit)'
          : 'appendfsync everysec: ack after the write, AOF fsync once a second',
      servers: () => new Map([['redis-server', redis.pid!]]),
      throughput: (ms) => w.run({ kind: 'throughput', durationMs: ms }),
      rate: (rate, ms) => w.run({ kind: 'rate', durationMs: ms, rate, warmupMs: 1000 }),
      beforeRun: () => redis.reset('bench'),
    });
  }
  return systems;
}

/** A run that is not counted; the first also estimates how much a measured run writes per broker. */
async function warmUp(s: System, estimate: boolean): Promise<void> {
  await s.beforeRun?.();
  const before = await storeState();
  const r = await s.throughput(warmupMs);
  const after = await storeState();
  if (estimate && s.cluster) {
    const c = s.cluster;
    for (const [broker, b0] of before) {
      if (!broker.startsWith(`${c.name}/`)) continue;
      const wrote = ((after.get(broker)!.maxOffset - b0.maxOffset) * durationMs) / (r.elapsedMs || 1);
      c.maxRunBytes = Math.max(c.maxRunBytes, wrote);
    }
  }
  log(`warm-up ${s.key}: ${fmt(r.ok / (r.elapsedMs / 1000))} msg/s${r.failed ? `, ${fmt(r.failed)} failed: ${r.firstFailure}` : ''}`);
}

/**
 * Keeps seals out of the measured runs (unless --seal allow): when a broker's segment has less
 * room left than the most a run has written to one broker (+25%), the cluster's brokers are
 * stopped, their stores and local tiers deleted, started again and warmed up again, so every
 * run writes into an open segment and no tier upload runs beside it.
 */
async function makeRoom(s: System, systems: System[]): Promise<void> {
  const c = s.cluster;
  if (!c || !AVOID_SEALS) return;
  const need = c.maxRunBytes * 1.25;
  if (need > SEGMENT / 2) {
    log(
      `  a run writes up to ${fmt(c.maxRunBytes / MiB)} MiB per broker: too much to keep seals out of ${fmt(SEGMENT / MiB)} MiB segments (shorter runs or --seal allow)`,
    );
    return;
  }
  const state = await storeState();
  const tight = c.cluster.config.brokers.filter((b) => SEGMENT - (state.get(`${c.name}/${b.brokerName}`)!.maxOffset % SEGMENT) < need);
  if (tight.length === 0) return;
  log(
    `  ${c.name} cluster: fresh broker stores before the next ${s.key} run (${tight.map((b) => b.brokerName).join(', ')} within ${fmt(need / MiB)} MiB of a seal)`,
  );
  const { cluster } = c;
  const names = cluster.config.brokers.map((b) => b.brokerName);
  await Promise.all(names.map((n) => cluster.stopProcess(n)));
  for (const n of names) {
    fs.rmSync(path.join(cluster.config.dataDir, n), { recursive: true, force: true });
    fs.rmSync(path.join(cluster.config.dataDir, `${n}-tier`), { recursive: true, force: true });
  }
  await Promise.all(names.map((n) => cluster.startProcess(n)));
  await cluster.waitForBrokers(names);
  await createTopic(cluster);
  renewals++;
  for (const other of systems) if (other.cluster === c) await warmUp(other, false);
}

function payload(): Buffer {
  return Buffer.alloc(MSG_BYTES, 'cirrusmq-benchmark-payload-');
}

function namedPids(cluster: LocalCluster, names: string[]): Map<string, number> {
  return new Map(names.map((n) => [n, cluster.pid(n)!]));
}

async function createTopic(cluster: LocalCluster): Promise<void> {
  const http = new HttpClient(cluster.gatewayUrl);
  try {
    await http.json('POST', '/v1/topics', { topic: 'bench', queues: 4 });
  } finally {
    http.close();
  }
}

/** One run of a system, with its server CPU, and what the CommitLogs and tiers did meanwhile. */
async function measured(run: number, s: System, go: () => Promise<ProduceResult>): Promise<RunRecord> {
  const servers = s.servers();
  const pids = [...servers.values()];
  const store0 = await storeState();
  const each0 = pids.map((p) => cpuSeconds(withChildren([p])));
  const r = await go();
  const each1 = pids.map((p) => cpuSeconds(withChildren([p])));
  const store1 = await storeState();
  const cpu = each1.reduce((a, x, i) => a + x - each0[i]!, 0);
  const sealed: string[] = [];
  let uploaded = 0;
  for (const [broker, b0] of store0) {
    const b1 = store1.get(broker)!;
    if (Math.floor(b1.maxOffset / SEGMENT) > Math.floor(b0.maxOffset / SEGMENT)) sealed.push(broker);
    uploaded += b1.tierUploaded - b0.tierUploaded;
    const c = clusters.find((x) => broker.startsWith(`${x.name}/`))!;
    c.maxRunBytes = Math.max(c.maxRunBytes, b1.maxOffset - b0.maxOffset);
  }
  return {
    run,
    key: s.key,
    r,
    msgsPerSec: r.ok / (r.elapsedMs / 1000),
    serverCpuUs: (cpu / r.okAll) * 1e6,
    serverCpuUsByName: new Map([...servers.keys()].map((n, i) => [n, ((each1[i]! - each0[i]!) / r.okAll) * 1e6])),
    clientCpuUs: (r.clientCpuSec / r.okAll) * 1e6,
    sealed,
    tierUploadMiB: uploaded / MiB,
    load: load(),
  };
}

/** Every broker's CommitLog end and tier upload total, from its /metrics. */
async function storeState(): Promise<Map<string, { maxOffset: number; tierUploaded: number }>> {
  const out = new Map<string, { maxOffset: number; tierUploaded: number }>();
  for (const { name, cluster } of clusters) {
    for (const { brokerName } of cluster.config.brokers) {
      const text = await (await fetch(`${cluster.brokerUrl(brokerName)}/metrics`)).text();
      out.set(`${name}/${brokerName}`, {
        maxOffset: metric(text, 'cirrusmq_commitlog_max_offset'),
        tierUploaded: metric(text, 'cirrusmq_tier_uploaded_bytes_total'),
      });
    }
  }
  return out;
}

/** The sum of a metric's samples over its label sets (0 when absent). */
function metric(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

async function gatewayNameServerCalls(): Promise<number> {
  const c = clusters.find((x) => x.name === 'async')!.cluster;
  return metric(await (await fetch(`${c.gatewayUrl}/metrics`)).text(), 'cirrusmq_gateway_nameserver_calls_total');
}

/** The previous run's dirty pages written out before the next run starts. */
function settle(): void {
  execSync('sync');
}

function natsVersion(): string {
  return execSync('nats-server --version', { encoding: 'utf8' })
    .trim()
    .replace(/^nats-server: /, '');
}

function redisVersion(): string {
  return `redis-server ${/v=(\S+)/.exec(execSync('redis-server --version', { encoding: 'utf8' }))?.[1] ?? ''}`;
}

function report(systems: System[], records: RunRecord[], gatewayNs: number[]): void {
  const of = (key: string) => records.filter((r) => r.key === key);
  const has = (key: string) => systems.some((s) => s.key === key);
  log('');
  log(`medians of ${runs} run(s)     msgs/s  server CPU µs/msg  client CPU µs/msg   p50 ms   p99 ms   failed  runs with a seal`);
  for (const s of systems) {
    const rs = of(s.key);
    const m = (f: (r: RunRecord) => number) => median(rs.map(f));
    log(
      `${s.key.padEnd(20)} ${fmt(m((r) => r.msgsPerSec)).padStart(10)}  ${fmt(
        m((r) => r.serverCpuUs),
        2,
      ).padStart(17)}  ${fmt(
        m((r) => r.clientCpuUs),
        2,
      ).padStart(17)}  ${fmt(
        m((r) => r.r.p50Ms),
        2,
      ).padStart(7)}  ${fmt(
        m((r) => r.r.p99Ms),
        2,
      ).padStart(7)}  ${fmt(rs.reduce((a, r) => a + r.r.failed, 0)).padStart(7)}  ${rs.filter((r) => r.sealed.length > 0).length}`,
    );
    const names = [...rs[0]!.serverCpuUsByName.keys()];
    const byName = names.map((name) => `${name} ${fmt(median(rs.map((r) => r.serverCpuUsByName.get(name)!)), 2)}`);
    if (names.length > 1) log(`${''.padEnd(22)}server CPU µs/msg by process: ${byName.join(', ')}`);
  }
  log('latency: per request of 32 (gateway, by wrk; direct, sync) or per message (jetstream, redis: each publish to its ack)');

  log('');
  log('targets (issue 12), ratios of figures from the same run:');
  const ratios = (a: string, b: string, f: (r: RunRecord) => number) => of(a).map((r) => f(r) / f(of(b).find((x) => x.run === r.run)!));
  const line = (name: string, a: string, b: string, f: (r: RunRecord) => number, target: string, met: (xs: number[]) => boolean) => {
    if (!has(a) || !has(b)) return;
    const xs = ratios(a, b, f);
    log(
      `  ${name.padEnd(52)} median ${fmt(median(xs), 2).padStart(5)}  runs ${xs.map((x) => fmt(x, 2)).join(', ')}   target ${target}: ${met(xs) ? 'met' : 'NOT met'}`,
    );
  };
  const tput = (r: RunRecord) => r.msgsPerSec;
  const cpu = (r: RunRecord) => r.serverCpuUs;
  line('direct / JetStream, msgs/s (every run)', 'direct', 'jetstream', tput, '>= 1.0 every run', (xs) => xs.every((x) => x >= 1));
  line('direct / JetStream, server CPU per msg (every run)', 'direct', 'jetstream', cpu, '<= 1.0 every run', (xs) => xs.every((x) => x <= 1));
  line('gateway / JetStream, msgs/s', 'gateway', 'jetstream', tput, '>= 1.0', (xs) => median(xs) >= 1);
  line('gateway / JetStream, server CPU per msg', 'gateway', 'jetstream', cpu, '<= 1.3', (xs) => median(xs) <= 1.3);
  line('SYNC_FLUSH direct / Redis appendfsync always, msgs/s', 'sync', 'redis-always', tput, '>= 1.0', (xs) => median(xs) >= 1);
  if (has('sync') && has('redis-always')) {
    const xs = ratios('sync', 'redis-always', cpu);
    log(
      `  ${'SYNC_FLUSH direct / Redis always, server CPU per msg'.padEnd(52)} median ${fmt(median(xs), 2).padStart(5)}  runs ${xs.map((x) => fmt(x, 2)).join(', ')}`,
    );
  }
  if (has('direct') && has('redis-everysec')) {
    const xs = ratios('direct', 'redis-everysec', tput);
    log(`  ${'direct / Redis appendfsync everysec, msgs/s'.padEnd(52)} median ${fmt(median(xs), 2).padStart(5)}  runs ${xs.map((x) => fmt(x, 2)).join(', ')}`);
  }
  if (has('gateway') && has('direct')) {
    const xs = ratios('gateway', 'direct', tput);
    log(`  ${'gateway / direct, msgs/s'.padEnd(52)} median ${fmt(median(xs), 2).padStart(5)}  runs ${xs.map((x) => fmt(x, 2)).join(', ')}`);
  }
  if (gatewayNs.length) {
    const calls = gatewayNs.reduce((a, b) => a + b, 0);
    const msgs = of('gateway').reduce((a, r) => a + r.r.ok, 0);
    log(`gateway NameServer calls while warm: ${calls} for ${fmt(msgs)} messages (${fmt((calls / msgs) * 10_000, 3)} per 10,000; target <= 1)`);
  }
  const sealedRuns = records.filter((r) => r.sealed.length > 0);
  log(
    sealedRuns.length === 0
      ? `no CommitLog segment sealed during any run (segments of ${fmt(SEGMENT / MiB)} MiB; checked per run from each broker's cirrusmq_commitlog_max_offset; ` +
          `${renewals} cluster store renewal(s) between runs to keep it so)`
      : `a CommitLog segment sealed during ${sealedRuns.map((r) => `run ${r.run} ${r.key} (${r.sealed.join(' ')})`).join(', ')}: those runs include a seal and its tier upload`,
  );
}

interface Worker {
  run(r: ProduceRun): Promise<ProduceResult>;
  stop(): void;
}

/** A produce-worker.ts process, connected and ready; one run at a time. */
async function startWorker(spec: Omit<ProduceWorkerSpec, 'resultFile' | 'batch' | 'inFlight' | 'msgBytes'>): Promise<Worker> {
  const resultFile = path.join(dataDir, `produce-worker-${++workerCount}.json`);
  const full: ProduceWorkerSpec = { ...spec, batch: BATCH, inFlight: IN_FLIGHT, msgBytes: MSG_BYTES, resultFile };
  const child: ChildProcess = spawn(process.execPath, [...WORKER_NODE_FLAGS, '--conditions=cirrusmq-source', '--import', 'tsx', WORKER, JSON.stringify(full)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: ((type: string) => void)[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let type: string;
    try {
      type = (JSON.parse(line) as { type: string }).type;
    } catch {
      process.stderr.write(`${spec.mode} worker: ${line}\n`);
      return;
    }
    waiting.shift()?.(type);
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${spec.mode} worker exited with ${code}`))));
  exited.catch(() => undefined);
  const next = () => Promise.race([new Promise<string>((resolve) => waiting.push(resolve)), exited]);
  await next(); // ready
  const worker: Worker = {
    async run(r) {
      const answered = next();
      child.stdin!.write(`${JSON.stringify(r)}\n`);
      await answered;
      return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as ProduceResult;
    },
    stop() {
      child.stdin!.end('exit\n');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    },
  };
  workers.push(worker);
  return worker;
}
