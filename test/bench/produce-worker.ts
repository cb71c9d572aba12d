/**
 * One load generator of bench:produce, in a process of its own so neither the benchmark
 * process nor another system's client shares its event loop. Started as
 *   node --conditions=cirrusmq-source --import tsx test/bench/produce-worker.ts '<ProduceWorkerSpec JSON>'
 * It connects, prints {"type":"ready"}, then runs one command per stdin line (a ProduceRun
 * JSON) and answers each with {"type":"result"} once the result is in its resultFile; "exit"
 * ends it. The same worker serves every run of its system, so its JIT is warm after the first.
 *
 * Throughput (closed loop): `inFlight` messages outstanding the whole time, for durationMs;
 * what is in flight at the deadline is waited for and counted, and so is the time it took.
 * Rate (open loop, as the OpenMessaging Benchmark): a batch of `batch` messages is due every
 * batch/rate seconds whatever is outstanding; a batch's latency runs from when it was due to
 * its last ack, so a client or server that falls behind shows in the figures.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { Producer } from '@cirrusmq/client';
import { HttpClient } from '@cirrusmq/client/protocol';
import { JetStreamLean } from './jetstream-lean';
import type { LeanPublisher } from './lean-publisher';
import { RedisStreamLean } from './redis-stream-lean';
import { percentile } from './stats';

export interface ProduceWorkerSpec {
  /** direct: SDK Producer.sendBatch; gateway: HTTP POST of JSON batches; nats / redis: a lean publisher. */
  mode: 'direct' | 'gateway' | 'nats' | 'redis';
  /** NameServer "host:port" (direct), gateway URL, NATS or Redis "host:port". */
  address: string;
  /** Topic, NATS subject or Redis stream key. */
  topic: string;
  batch: number;
  /** Messages outstanding in throughput runs (a multiple of batch for direct and gateway). */
  inFlight: number;
  msgBytes: number;
  resultFile: string;
  /** direct: SDK Producer options beyond the NameServer (autoBatch, maxInflightPerTopic). */
  producer?: { autoBatch?: boolean; maxInflightPerTopic?: number };
}

export interface ProduceRun {
  kind: 'throughput' | 'rate';
  durationMs: number;
  /** rate: messages per second (sent in batches of `batch`). */
  rate?: number;
  /** rate: the first warmupMs are sent but not measured. */
  warmupMs?: number;
}

export interface ProduceResult {
  type: 'result';
  /** Messages acknowledged: SEND_OK, a stream ack, an XADD id. */
  ok: number;
  /** Acknowledged including a rate run's warm-up: what the CPU of the whole run is divided by. */
  okAll: number;
  /** Messages sent and not acknowledged (another status, an error, a refusal). */
  failed: number;
  /** One example of what failed, if anything did. */
  firstFailure?: string;
  elapsedMs: number;
  /** Latency ms: per batch (direct, gateway, and every rate run) or per message (nats, redis throughput). */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  samples: number;
  /** rate: how far behind its schedule the sender fell at most. */
  maxLagMs: number;
  /** This process's user+system CPU seconds over the whole run (a rate run's warm-up included). */
  clientCpuSec: number;
}

interface Sender {
  /** Sends one batch; resolves with the number acknowledged. */
  sendBatch(): Promise<{ ok: number; failure?: string }>;
}

const spec = JSON.parse(process.argv[2]!) as ProduceWorkerSpec;
const body = Buffer.alloc(spec.msgBytes, 'cirrusmq-benchmark-payload-');
const lines = readline.createInterface({ input: process.stdin });
const queue: string[] = [];
let wake: (() => void) | undefined;
lines.on('line', (l) => {
  queue.push(l);
  wake?.();
});
const nextLine = async (): Promise<string> => {
  while (queue.length === 0) await new Promise<void>((r) => (wake = r));
  return queue.shift()!;
};

const { sender, lean, close } = await connectClient();
process.stdout.write('{"type":"ready"}\n');
for (;;) {
  const line = await nextLine();
  if (line === 'exit') break;
  const run = JSON.parse(line) as ProduceRun;
  const r = run.kind === 'rate' ? await rateRun(run) : lean ? await leanThroughput(lean, run) : await batchThroughput(sender!, run);
  fs.writeFileSync(spec.resultFile, JSON.stringify(r));
  process.stdout.write('{"type":"result"}\n');
}
await close();
process.exit(0);

async function connectClient(): Promise<{ sender?: Sender; lean?: LeanPublisher; close: () => Promise<void> }> {
  if (spec.mode === 'direct') {
    const producer = new Producer({ nameServer: spec.address, ...spec.producer });
    const messages = Array.from({ length: spec.batch }, () => ({ topic: spec.topic, body, tags: 'TagA' }));
    await producer.sendBatch(messages); // the route and a connection, before the clock starts
    return {
      sender: {
        async sendBatch() {
          const results = await producer.sendBatch(messages);
          let ok = 0;
          let failure: string | undefined;
          for (const r of results) {
            if (r.status === 'SEND_OK') ok++;
            else failure = r.status;
          }
          return { ok, failure };
        },
      },
      close: async () => producer.shutdown(),
    };
  }
  if (spec.mode === 'gateway') {
    const http = new HttpClient(spec.address, { maxSockets: Math.max(1, spec.inFlight / spec.batch) });
    const path = `/v1/topics/${spec.topic}/messages`;
    const requestBody = JSON.stringify({ messages: Array.from({ length: spec.batch }, () => ({ body: body.toString('utf8'), tags: 'TagA' })) });
    const sender: Sender = {
      async sendBatch() {
        const res = await http.request({ method: 'POST', path, body: requestBody });
        if (res.status !== 200) return { ok: 0, failure: `HTTP ${res.status}` };
        // The gateway answers a result per message; only SEND_OK ones are acknowledged.
        const text = res.body.toString('latin1');
        const ok = countOf(text, '"status":"SEND_OK"');
        return { ok, failure: ok < spec.batch ? text.slice(0, 200) : undefined };
      },
    };
    await sender.sendBatch();
    return { sender, close: async () => http.close() };
  }
  const lean =
    spec.mode === 'nats' ? await JetStreamLean.connect(spec.address, spec.topic, body) : await RedisStreamLean.connect(spec.address, spec.topic, body);
  // One ack back before the clock starts: connected, subscribed, the stream there.
  const first = await new Promise<boolean>((resolve) => lean.publish(1, resolve));
  if (!first) throw new Error(`${spec.mode}: the first publish was refused`);
  return {
    lean,
    sender: {
      sendBatch: () =>
        new Promise((resolve) => {
          let left = spec.batch;
          let ok = 0;
          lean.publish(spec.batch, (acked) => {
            if (acked) ok++;
            if (--left === 0) resolve({ ok, failure: ok < spec.batch ? 'refused' : undefined });
          });
        }),
    },
    close: () => lean.close(),
  };
}

function countOf(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function result(
  ok: number,
  failed: number,
  firstFailure: string | undefined,
  elapsedMs: number,
  latencies: number[],
  maxLagMs: number,
  cpu0: number,
  okAll = ok,
): ProduceResult {
  latencies.sort((a, b) => a - b);
  return {
    type: 'result',
    ok,
    okAll,
    failed,
    firstFailure,
    elapsedMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    samples: latencies.length,
    maxLagMs,
    clientCpuSec: cpuNow() - cpu0,
  };
}

/** `inFlight / batch` loops, each sending its next batch when the last one is answered. */
async function batchThroughput(s: Sender, run: ProduceRun): Promise<ProduceResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const cpu0 = cpuNow();
  const started = performance.now();
  const deadline = started + run.durationMs;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.round(spec.inFlight / spec.batch)) }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const r = await s.sendBatch();
          ok += r.ok;
          failed += spec.batch - r.ok;
          if (r.failure) firstFailure ??= r.failure;
          latencies.push(performance.now() - t0);
        } catch (e) {
          failed += spec.batch;
          firstFailure ??= (e as Error).message;
        }
      }
    }),
  );
  return result(ok, failed, firstFailure, performance.now() - started, latencies, 0, cpu0);
}

/** A window of `inFlight` messages: each ack sends the next one until the deadline. */
async function leanThroughput(p: LeanPublisher, run: ProduceRun): Promise<ProduceResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let outstanding = 0;
  const cpu0 = cpuNow();
  const started = performance.now();
  const deadline = started + run.durationMs;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const sendOne = () => {
    const t0 = performance.now();
    outstanding++;
    p.publish(1, (acked) => {
      const now = performance.now();
      outstanding--;
      if (acked) {
        ok++;
        latencies.push(now - t0);
      } else failed++;
      if (now < deadline) sendOne();
      else if (outstanding === 0) finish();
    });
  };
  for (let i = 0; i < spec.inFlight; i++) sendOne();
  await finished;
  return result(ok, failed, failed > 0 ? 'refused or no stream ack' : undefined, performance.now() - started, latencies, 0, cpu0);
}

/** Batches due at a fixed rate, sent whatever is outstanding; latency from when each was due. */
async function rateRun(run: ProduceRun): Promise<ProduceResult> {
  const s = sender!;
  const rate = run.rate!;
  const warmupMs = run.warmupMs ?? 1000;
  const intervalMs = (spec.batch * 1000) / rate;
  const total = Math.round((warmupMs + run.durationMs) / intervalMs);
  const warm = Math.round(warmupMs / intervalMs);
  const latencies: number[] = [];
  const sends: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  let maxLagMs = 0;
  let okAll = 0;
  const cpu0 = cpuNow();
  const start = performance.now() + 20;
  const measuredFrom = start + warm * intervalMs;
  for (let seq = 0; seq < total; ) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / intervalMs) + 1);
    for (; seq < due; seq++) {
      const dueAt = start + seq * intervalMs;
      const measured = seq >= warm;
      if (measured) maxLagMs = Math.max(maxLagMs, now - dueAt);
      sends.push(
        s.sendBatch().then(
          (r) => {
            okAll += r.ok;
            if (!measured) return;
            ok += r.ok;
            failed += spec.batch - r.ok;
            if (r.failure) firstFailure ??= r.failure;
            else latencies.push(performance.now() - dueAt);
          },
          (e) => {
            if (!measured) return;
            failed += spec.batch;
            firstFailure ??= (e as Error).message;
          },
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(sends);
  return result(ok, failed, firstFailure, performance.now() - measuredFrom, latencies, maxLagMs, cpu0, okAll);
}
