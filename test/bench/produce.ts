/**
 * npm run bench:produce [-- --seconds 10 --runs 3]
 *
 * 1 KB messages in batches of 32, 16 requests in flight, for a fixed time:
 *   (a) through the gateway over HTTP (wrk as the client when installed, else a Node client),
 *   (b) direct to the brokers with the SDK Producer (RocketMQ's defaults, then with autoBatch),
 *   (c) NATS JetStream (file store) as the peer, with a lean client, in the same run.
 * Prints msgs/s, p50/p99 latency per batch, the ratios, the gateway's RSS and the NameServer
 * calls made while warm. With --runs N each scenario runs N times, interleaved, and the
 * medians are reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HttpClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { startTestCluster } from '../support/cluster';
import { hasNatsServer, NatsPeer } from './nats-peer';
import { fmt, median, runLoad, type LoadResult } from './stats';
import { hasWrk, wrkPost } from './wrk';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('npm run bench:produce -- [--seconds S (per scenario, default 10)] [--runs N (default 1)]');
  process.exit(0);
}
const durationMs = Number(values.seconds) * 1000;
const runs = Number(values.runs);
const BATCH = 32;
const IN_FLIGHT = 16;
const MSG_BYTES = 1024;
const WARMUP_MS = 2000;

const body = Buffer.alloc(MSG_BYTES, 'cirrusmq-benchmark-payload-');
const log = (s: string) => process.stdout.write(s + '\n');

log(
  `bench:produce: ${MSG_BYTES} B messages, batches of ${BATCH}, ${IN_FLIGHT} in flight, ${durationMs / 1000}s per scenario, ${runs} run(s); ${os.cpus().length} cores`,
);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-'));
const cluster = await startTestCluster({
  dataDir,
  env: {
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(1024 * 1024 * 1024),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
  },
});
const nats = hasNatsServer() ? await NatsPeer.start() : undefined;
if (!nats) log('nats-server not found (apt-get install nats-server): the JetStream peer is skipped');

const gatewayHttp = new HttpClient(cluster.gatewayUrl, { maxSockets: IN_FLIGHT });
const nameServerAddr = `${cluster.config.host}:${cluster.config.nameServerPort}`;
const producer = new Producer({ nameServer: nameServerAddr });
const batchingProducer = new Producer({ nameServer: nameServerAddr, autoBatch: true });
const useWrk = hasWrk();
log(`gateway load from ${useWrk ? 'wrk (C)' : 'a Node client (apt-get install wrk for a cheaper one)'}`);

try {
  const created = await gatewayHttp.json<{ topic: string }>('POST', '/v1/topics', { topic: 'bench', queues: 4 });
  log(`topic ${created.topic} created: 4 queues on each of ${cluster.config.brokers.length} brokers`);

  const requestBody = JSON.stringify({ messages: Array.from({ length: BATCH }, () => ({ body: body.toString('utf8'), tags: 'TagA' })) });
  const viaGatewayNode = async () => {
    const res = await gatewayHttp.request({ method: 'POST', path: '/v1/topics/bench/messages', body: requestBody });
    if (res.status !== 200) throw new Error(`gateway answered ${res.status}`);
  };
  const loadGateway = (ms: number) =>
    useWrk ? wrkPost(`${cluster.gatewayUrl}/v1/topics/bench/messages`, requestBody, IN_FLIGHT, ms, BATCH) : runLoad(IN_FLIGHT, ms, BATCH, viaGatewayNode);
  const messages = Array.from({ length: BATCH }, () => ({ topic: 'bench', body, tags: 'TagA' }));
  const direct = async () => {
    await producer.sendBatch(messages);
  };
  const directBatching = async () => {
    await batchingProducer.sendBatch(messages);
  };
  const natsBodies = Array.from({ length: BATCH }, () => body);
  const viaNats = async () => {
    await nats!.publishBatch('bench.orders', natsBodies);
  };

  // Warm up: routes cached, connections open, JIT done.
  await loadGateway(WARMUP_MS);
  await runLoad(IN_FLIGHT, WARMUP_MS, BATCH, direct);
  await runLoad(IN_FLIGHT, WARMUP_MS, BATCH, directBatching);
  if (nats) await runLoad(IN_FLIGHT, WARMUP_MS, BATCH, viaNats);

  const results: Record<'gateway' | 'direct' | 'directBatching' | 'jetstream', LoadResult[]> = { gateway: [], direct: [], directBatching: [], jetstream: [] };
  const gatewayNsCalls: number[] = [];
  const gatewayRss: number[] = [];
  const directCallsBefore = producer.nameServerCalls;
  for (let run = 1; run <= runs; run++) {
    const before = await gatewayMetrics();
    results.gateway.push(await loadGateway(durationMs));
    const after = await gatewayMetrics();
    gatewayNsCalls.push(after.nameServerCalls - before.nameServerCalls);
    gatewayRss.push(after.rss);
    results.direct.push(await runLoad(IN_FLIGHT, durationMs, BATCH, direct));
    results.directBatching.push(await runLoad(IN_FLIGHT, durationMs, BATCH, directBatching));
    if (nats) results.jetstream.push(await runLoad(IN_FLIGHT, durationMs, BATCH, viaNats));
    const last = (k: keyof typeof results) => fmt(results[k].at(-1)!.msgsPerSec);
    log(
      `run ${run}/${runs}: gateway ${last('gateway')}, direct ${last('direct')}, direct+autoBatch ${last('directBatching')}${nats ? `, jetstream ${last('jetstream')}` : ''} msg/s`,
    );
  }

  const summary = (rs: LoadResult[]) => ({
    msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
    p50Ms: median(rs.map((r) => r.p50Ms)),
    p99Ms: median(rs.map((r) => r.p99Ms)),
    messages: rs.reduce((a, r) => a + r.messages, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  });
  const gw = summary(results.gateway);
  const dr = summary(results.direct);
  const db = summary(results.directBatching);
  const js = nats ? summary(results.jetstream) : undefined;

  log('');
  log(`medians of ${runs} run(s)         msgs/s      p50 ms   p99 ms   errors`);
  const row = (name: string, s: ReturnType<typeof summary>) =>
    log(`${name.padEnd(28)} ${fmt(s.msgsPerSec).padStart(10)}  ${fmt(s.p50Ms, 2).padStart(7)}  ${fmt(s.p99Ms, 2).padStart(7)}   ${s.errors}`);
  row('(a) gateway (HTTP)', gw);
  row('(b) direct (SDK Producer)', dr);
  row('(b2) direct, autoBatch', db);
  if (js) row('(c) NATS JetStream (file)', js);
  log('');
  // Each run measures the paths back to back, so a ratio within a run shares the machine's
  // mood of the moment; the median of those is the figure to quote.
  const ratio = (a: keyof typeof results, b: keyof typeof results, target?: string) => {
    const perRun = results[a].map((r, i) => r.msgsPerSec / results[b][i]!.msgsPerSec);
    const range = runs > 1 ? ` (runs: ${perRun.map((x) => fmt(x, 2)).join(', ')})` : '';
    return `${fmt(median(perRun), 2)}${target ? `   target ${target}` : ''}${range}`;
  };
  log('ratios, median of per-run ratios:');
  if (js) log(`  gateway / JetStream         ${ratio('gateway', 'jetstream', '>= 1.0')}`);
  log(`  gateway / direct            ${ratio('gateway', 'direct', '>= 0.8')}`);
  log(`  gateway / direct+autoBatch  ${ratio('gateway', 'directBatching')}`);
  if (js) log(`  direct / JetStream          ${ratio('direct', 'jetstream')}`);
  const nsCalls = gatewayNsCalls.reduce((a, b) => a + b, 0);
  log(`gateway NameServer calls while warm: ${nsCalls} for ${fmt(gw.messages)} messages (${fmt((nsCalls / gw.messages) * 10_000, 3)} per 10,000; target <= 1)`);
  log(`direct SDK NameServer calls while warm: ${producer.nameServerCalls - directCallsBefore}`);
  log(`p50/p99 are per request (a batch of ${BATCH}); gateway latency is wrk's when wrk runs`);
  log(`gateway RSS: ${fmt(median(gatewayRss) / 1024 / 1024, 1)} MiB`);
} finally {
  producer.shutdown();
  batchingProducer.shutdown();
  gatewayHttp.close();
  await nats?.stop();
  await cluster.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

async function gatewayMetrics(): Promise<{ nameServerCalls: number; rss: number }> {
  const res = await gatewayHttp.request({ method: 'GET', path: '/metrics' });
  const text = res.body.toString('utf8');
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { nameServerCalls: read('cirrusmq_gateway_nameserver_calls_total'), rss: read('process_resident_memory_bytes') };
}
