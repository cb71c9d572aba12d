/**
 * bench:consume's latency part: a producer paced at a fixed rate in this process, consumers
 * in their own processes, each message timed from its schedule, its SEND_OK and its store time
 * to its first receive. CirrusMQ (the autoBatch Producer, long-polling SimpleConsumers) and
 * JetStream (a publish per message acked by the stream, consume() pullers) run alternately,
 * with the same layout. consume.ts starts the cluster and the peer and calls runLatency.
 */
import os from 'node:os';
import type { GatewayClient, Producer } from '@cirrusmq/client';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import type { ConsumeWorker } from './consume';
import type { WorkerResult, WorkerSpec } from './consume-worker';
import type { NatsPeer } from './nats-peer';
import { cpuSeconds, withChildren } from './proc-cpu';
import { fmt, median, percentile } from './stats';

export type LatencySystem = 'cirrus' | 'nats';

export interface LatencyContext {
  cluster: LocalCluster;
  /** Absent: JetStream is not measured. */
  nats: NatsPeer | undefined;
  nameServerAddr: string;
  gateway: GatewayClient;
  latencyProducer: Producer;
  createTopic(topic: string): Promise<void>;
  startWorker(spec: Omit<WorkerSpec, 'resultFile'>): ConsumeWorker;
  log(line: string): void;
  body: Buffer;
  /** Messages a receive (or a pull) asks for at most. */
  batch: number;
  latencyMs: number;
  latencyWarmupMs: number;
  latencyConsumers: number;
}

const epochNow = () => performance.timeOrigin + performance.now();

interface LatencyResult {
  sent: number;
  received: number;
  beforeSendOk: number;
  /** p50, p99, p99.9 ms */
  sendOk: number[];
  e2e: number[];
  /** The broker's store time (whole ms) to the consumer's receive, and to the producer's SEND_OK: which side the time is on. */
  storedToReceive: number[];
  storedToSendOk: number[];
  maxLagMs: number;
  /** CPU ms per second over the measured window: the servers (brokers, or nats-server), the consumer processes, this process (the producer), the other system's servers. */
  cpuMsPerS: number[];
}

function latencySystemLabel(system: LatencySystem): string {
  return system === 'cirrus'
    ? 'CirrusMQ: autoBatch Producer, long-polling SimpleConsumers (direct, receive 32, awaitDuration 20 s, ackAll per batch); CPU: brokers'
    : 'JetStream (file store): a publish per message acked by the stream, consume() pullers (32 ahead, ack per message); CPU: nats-server';
}

function ms3(xs: number[]): string {
  return xs.map((x) => fmt(x, 2)).join('/');
}

/** Every rate, `runs` runs of each system, alternating; then the figures per system. */
export async function runLatency(ctx: LatencyContext, systems: LatencySystem[], rates: number[], runs: number): Promise<void> {
  const { cluster, nats, nameServerAddr, gateway, latencyProducer, createTopic, startWorker, log, body, latencyMs, latencyWarmupMs, latencyConsumers } = ctx;
  const BATCH = ctx.batch;
  const brokerPids = cluster.config.brokers.map((b) => cluster.pid(b.brokerName)!);
  const running = systems.filter((s) => s !== 'nats' || nats);
  for (const rate of rates) {
    const perRun = new Map<LatencySystem, LatencyResult[]>(running.map((s) => [s, []]));
    // Alternating: CirrusMQ, JetStream, CirrusMQ, …
    for (let run = 1; run <= runs; run++) for (const s of running) perRun.get(s)!.push(await latencyRun(s, rate, run));
    log('');
    log(
      `latency at a fixed ${fmt(rate)} msg/s, ${latencyMs / 1000}s per run (after ${latencyWarmupMs / 1000} s of warm-up at the same rate, not counted), ${latencyConsumers} consumer processes; the producer in this process:`,
    );
    for (const s of running) printLatency(s, perRun.get(s)!, rate);
  }

  function printLatency(system: LatencySystem, perRun: LatencyResult[], rate: number): void {
    log(`  ${latencySystemLabel(system)}`);
    for (const [i, r] of perRun.entries()) {
      log(
        `    run ${i + 1}: sent ${fmt(r.sent)} received ${fmt(r.received)}; SEND_OK->receive p50/p99/p99.9 ${ms3(r.sendOk)} ms (${fmt(r.beforeSendOk)} received before their SEND_OK, counted as 0); end to end ${ms3(r.e2e)} ms; stored->receive ${ms3(r.storedToReceive)} ms, stored->SEND_OK ${ms3(r.storedToSendOk)} ms; producer behind schedule at most ${fmt(r.maxLagMs, 1)} ms; CPU ms/s server ${fmt(r.cpuMsPerS[0]!)}, consumers ${fmt(r.cpuMsPerS[1]!)}, producer ${fmt(r.cpuMsPerS[2]!)}, the other system's servers ${fmt(r.cpuMsPerS[3]!)} (of ${os.cpus().length * 1000})`,
      );
    }
    const med = (f: (r: LatencyResult) => number) => fmt(median(perRun.map(f)), 2);
    const target = system === 'cirrus';
    log(
      `    medians: SEND_OK->receive p50 ${med((r) => r.sendOk[0])} p99 ${med((r) => r.sendOk[1])} p99.9 ${med((r) => r.sendOk[2])} ms${target && rate === 1000 ? ' (target p99 <= 10 ms at 1,000 msg/s)' : ''}`,
    );
    log(
      `             end to end       p50 ${med((r) => r.e2e[0])} p99 ${med((r) => r.e2e[1])} p99.9 ${med((r) => r.e2e[2])} ms${target && rate === 10000 ? ' (target p99 <= 25 ms at 10,000 msg/s)' : ''}`,
    );
  }

  /** The producer's send of message `seq` (the body or a property carries it), resolving at SEND_OK or the stream's ack. */
  type LatencySend = (seq: number) => Promise<unknown>;

  /** CirrusMQ: the autoBatch Producer, long-polling SimpleConsumers; or JetStream: one publish per message, consume() pullers. */
  async function latencySetup(
    system: LatencySystem,
    topic: string,
  ): Promise<{ spec: Omit<WorkerSpec, 'resultFile'>; send: LatencySend; serverPids: number[] }> {
    const common = { topic, group: topic, durationMs: 0, batch: BATCH, awaitMs: 20_000 };
    if (system === 'nats') {
      const subject = `bench.${topic}`;
      await nats!.addPullConsumer(topic, subject);
      const send: LatencySend = (s) => {
        const b = Buffer.from(body);
        b.writeUInt32BE(s, 0);
        return nats!.publish(subject, b);
      };
      return { spec: { ...common, mode: 'nats-latency', address: nats!.address }, send, serverPids: [nats!.pid!] };
    }
    await createTopic(topic);
    await gateway.putGroup(topic, { consumeFrom: 'earliest' });
    const send: LatencySend = (s) => latencyProducer.send({ topic, body, properties: { benchSeq: String(s) } });
    return {
      spec: { ...common, mode: 'latency', address: nameServerAddr },
      send,
      serverPids: brokerPids,
    };
  }

  async function latencyRun(system: LatencySystem, rate: number, run: number): Promise<LatencyResult> {
    const { spec, send, serverPids } = await latencySetup(system, `lat-${rate}-${run}`);
    const workers = Array.from({ length: latencyConsumers }, () => startWorker(spec));
    await Promise.all(workers.map((w) => w.next('ready')));
    for (const w of workers) w.send('go');

    // The warm-up sends at the same rate and is not counted: the JIT and the kept polls settle.
    const warm = Math.round((rate * latencyWarmupMs) / 1000);
    const total = warm + Math.round((rate * latencyMs) / 1000);
    const consumerPids = workers.map((w) => w.child.pid!);
    // The other system's servers, idle by intent: what they still do (flushes, compaction) takes the same cores.
    const otherPids = system === 'nats' ? brokerPids : nats ? [nats.pid!] : [];
    const cpuNow = () => [cpuSeconds(withChildren(serverPids)), cpuSeconds(consumerPids), cpuSeconds([process.pid]), cpuSeconds(withChildren(otherPids))];
    let cpuAtWarm: number[] = [];
    let measuredFrom = 0;
    const intendedAt = new Float64Array(total);
    const sendOkAt = new Float64Array(total);
    // Sends in flight, counted: an array of every send's promise would grow to the run's
    // size and make the producer's process collect garbage in the window it measures.
    let inFlight = 0;
    let allAnswered = () => {};
    let maxLagMs = 0;
    let seq = 0;
    const start = epochNow() + 50;
    while (seq < total) {
      const now = epochNow();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      for (; seq < due; seq++) {
        // The schedule, not the send's start, is the reference: a producer that falls behind shows.
        intendedAt[seq] = start + (seq * 1000) / rate;
        if (seq === warm) {
          cpuAtWarm = cpuNow();
          measuredFrom = now;
        }
        if (seq >= warm) maxLagMs = Math.max(maxLagMs, now - intendedAt[seq]!);
        const s = seq;
        inFlight++;
        send(s)
          .then(
            () => {
              sendOkAt[s] = epochNow();
            },
            () => undefined,
          )
          .finally(() => {
            if (--inFlight === 0) allAnswered();
          });
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    const cpuEnd = cpuNow();
    const measuredS = (epochNow() - measuredFrom) / 1000;
    const cpuMsPerS = cpuEnd.map((c, i) => ((c - cpuAtWarm[i]!) * 1000) / measuredS);
    if (inFlight > 0) await new Promise<void>((resolve) => (allAnswered = resolve));
    const progress = () => workers.reduce((a, w) => a + (w.latest.get('progress')?.received ?? 0), 0);
    await waitFor(`${total} messages received`, 30_000, async () => progress() >= total).catch((e) => log(`  ${(e as Error).message} (got ${progress()})`));
    const done = workers.map((w) => w.next('result') as Promise<WorkerResult>);
    for (const w of workers) w.send('stop');
    const rs = await Promise.all(done);

    const firstAt = new Float64Array(total);
    const storedAt = new Float64Array(total);
    for (const r of rs)
      for (let i = 0, got = r.received ?? []; i + 2 < got.length; i += 3) {
        const s = got[i]!;
        const at = got[i + 1]!;
        const stored = got[i + 2]!;
        if (s >= 0 && s < total && (firstAt[s] === 0 || at < firstAt[s]!)) {
          firstAt[s] = at;
          storedAt[s] = stored;
        }
      }
    const sendOk: number[] = [];
    const e2e: number[] = [];
    const storedToReceive: number[] = [];
    const storedToSendOk: number[] = [];
    let beforeSendOk = 0;
    let received = 0;
    for (let s = warm; s < total; s++) {
      if (firstAt[s] === 0 || sendOkAt[s] === 0) continue;
      received++;
      const d = firstAt[s]! - sendOkAt[s]!;
      if (d < 0) beforeSendOk++;
      sendOk.push(Math.max(0, d));
      e2e.push(firstAt[s]! - intendedAt[s]!);
      storedToReceive.push(firstAt[s]! - storedAt[s]!);
      storedToSendOk.push(sendOkAt[s]! - storedAt[s]!);
    }
    for (const xs of [sendOk, e2e, storedToReceive, storedToSendOk]) xs.sort((a, b) => a - b);
    const pct = (xs: number[]) => [percentile(xs, 50), percentile(xs, 99), percentile(xs, 99.9)];
    return {
      sent: total - warm,
      received,
      beforeSendOk,
      sendOk: pct(sendOk),
      e2e: pct(e2e),
      storedToReceive: pct(storedToReceive),
      storedToSendOk: pct(storedToSendOk),
      maxLagMs,
      cpuMsPerS,
    };
  }
}
