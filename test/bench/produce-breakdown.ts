/**
 * npx tsx --conditions=cirrusmq-source test/bench/produce-breakdown.ts [--system gateway|direct|sync --runs 3 --seconds 5 --warmup-seconds 2 --segment-mib 2047]
 *
 * The cluster's processes inherit this one's environment: CIRRUSMQ_GATEWAY_HOT_ROUTES=false
 * gives the gateway as it was before its own listener for the hot routes (Hono serves all).
 * On a busy machine a first run after 2 s of warm-up still pays for JIT compilation: compare
 * like runs, or warm up longer.
 *
 * Where a produce's server CPU goes, per process, for one system at a time (bench:produce
 * compares systems; this explains one). 1 KB messages, 512 in flight, as bench:produce:
 *   gateway  wrk -c16, JSON batches of 32, to the gateway of an ASYNC_FLUSH cluster
 *   direct   16 loops of the SDK's sendBatch(32) (in this process) to the same brokers
 *   sync     as direct, to brokers under SYNC_FLUSH
 * Per run: msgs/s; user and system CPU µs per message of each server process; the broker
 * requests and the messages each carried (the gateway's producer merges waiting batches);
 * under SYNC_FLUSH the fdatasyncs, their mean duration and the requests each answered.
 * Figures per message divide by ALL acknowledged messages (as bench:produce does), so one
 * broker's figure is half of what it spends on each message it stores.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Producer } from '@cirrusmq/client';
import { HttpClient } from '@cirrusmq/client/protocol';
import { startTestCluster, stopTestCluster } from '../support/cluster';
import { cpuSeconds, systemSeconds, withChildren } from './proc-cpu';
import { hasWrk, wrkPost } from './wrk';

const { values } = parseArgs({
  options: {
    system: { type: 'string', default: 'gateway' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    'warmup-seconds': { type: 'string', default: '2' },
    // Smaller segments seal within the runs: with CIRRUSMQ_COMMITLOG_PREALLOCATE=true, the next ones are zero-filled.
    'segment-mib': { type: 'string', default: '2047' },
  },
});
const system = values.system!;
if (!['gateway', 'direct', 'sync'].includes(system)) throw new Error('--system is gateway, direct or sync');
if (system === 'gateway' && !hasWrk()) throw new Error('wrk not found (apt-get install wrk)');
const durationMs = Number(values.seconds) * 1000;
const BATCH = 32;
const LOOPS = 16;
const body = Buffer.alloc(1024, 'cirrusmq-benchmark-payload-');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-produce-breakdown-'));
const cluster = await startTestCluster({
  dataDir,
  env: {
    CIRRUSMQ_FLUSH_DISK_TYPE: system === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH',
    CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '30000',
    CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '120000',
    // By default no segment seals within the runs (a seal's upload would land in the figures).
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(Math.min(Number(values['segment-mib']) * 1024 * 1024, 2 ** 31 - 1)),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '300000',
  },
});
const brokers = cluster.config.brokers.map((b) => b.brokerName);
const processes = system === 'gateway' ? [...brokers, 'gateway'] : brokers;
const admin = new HttpClient(cluster.gatewayUrl);
const producer = new Producer({ nameServer: `${cluster.config.host}:${cluster.config.nameServerPort}` });
try {
  await admin.json('POST', '/v1/topics', { topic: 'bench', queues: 4 });
  const messages = Array.from({ length: BATCH }, () => ({ topic: 'bench', body, tags: 'TagA' }));
  const url = `${cluster.gatewayUrl}/v1/topics/bench/messages`;
  const requestBody = JSON.stringify({ messages: Array.from({ length: BATCH }, () => ({ body: body.toString('utf8'), tags: 'TagA' })) });
  const load = async (ms: number): Promise<number> => {
    if (system === 'gateway') return (await wrkPost(url, requestBody, LOOPS, ms, BATCH)).ok;
    const deadline = Date.now() + ms;
    let ok = 0;
    await Promise.all(
      Array.from({ length: LOOPS }, async () => {
        while (Date.now() < deadline) for (const r of await producer.sendBatch(messages)) if (r.status === 'SEND_OK') ok++;
      }),
    );
    return ok;
  };
  await load(Number(values['warmup-seconds']) * 1000); // warm-up: routes, connections, JIT
  for (let run = 1; run <= Number(values.runs); run++) {
    const before = await snapshot();
    const t0 = performance.now();
    const ok = await load(durationMs);
    const seconds = (performance.now() - t0) / 1000;
    const after = await snapshot();
    const us = (s: number) => ((s * 1e6) / ok).toFixed(2);
    const parts = processes.map((name, i) => {
      const user = after.cpu[i]! - after.sys[i]! - (before.cpu[i]! - before.sys[i]!);
      return `${name} user ${us(user)} sys ${us(after.sys[i]! - before.sys[i]!)}`;
    });
    const total = after.cpu.reduce((a, c, i) => a + c - before.cpu[i]!, 0);
    const requests = after.requests - before.requests;
    const stored = brokers.map((b, i) => `${b} ${(((after.stored[i]! - before.stored[i]!) / ok) * 100).toFixed(0)}%`).join(' ');
    const syncs = after.syncs - before.syncs;
    const syncLine =
      system === 'sync'
        ? `; ${syncs} fdatasyncs, ${(((after.syncSeconds - before.syncSeconds) / Math.max(1, syncs)) * 1000).toFixed(2)} ms each, ${(requests / Math.max(1, syncs)).toFixed(1)} requests per fdatasync`
        : '';
    console.log(
      `run ${run} ${system}: ${Math.round(ok / seconds).toLocaleString('en-US')} msg/s, server CPU ${us(total)} µs/msg (${parts.join(', ')}); ` +
        `${requests} broker requests, ${(ok / Math.max(1, requests)).toFixed(1)} messages each (stored by ${stored})${syncLine}; load ${os.loadavg()[0]!.toFixed(1)}`,
    );
  }
} finally {
  await producer.shutdown();
  admin.close();
  await stopTestCluster(cluster);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/** CPU of each process, and the brokers' send requests and fdatasyncs so far (their /metrics). */
async function snapshot() {
  const pids = processes.map((n) => cluster.pid(n)!);
  const texts = await Promise.all(brokers.map(async (b) => (await fetch(`${cluster.brokerUrl(b)}/metrics`)).text()));
  const sumOf = (t: string, re: RegExp) => [...t.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
  const sum = (re: RegExp) => texts.reduce((a, t) => a + sumOf(t, re), 0);
  return {
    cpu: pids.map((p) => cpuSeconds(withChildren([p]))),
    sys: pids.map((p) => systemSeconds(withChildren([p]))),
    stored: texts.map((t) => sumOf(t, /^cirrusmq_broker_topic_put_messages_total\{[^}]*topic="bench"[^}]*\} ([\d.e+-]+)$/gm)),
    requests: sum(/^cirrusmq_broker_send_duration_seconds_count(?:\{[^}]*\})? ([\d.e+-]+)$/gm),
    syncs: sum(/^cirrusmq_store_flush_duration_seconds_count(?:\{[^}]*\})? ([\d.e+-]+)$/gm),
    syncSeconds: sum(/^cirrusmq_store_flush_duration_seconds_sum(?:\{[^}]*\})? ([\d.e+-]+)$/gm),
  };
}
