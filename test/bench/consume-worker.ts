/**
 * One consumer of bench:consume, in a process of its own so the benchmark process does not
 * take the client's CPU. Started as
 *   node --conditions=cirrusmq-source --import tsx test/bench/consume-worker.ts '<WorkerSpec JSON>'
 * It answers on stdout with JSON lines: {"type":"ready"} once connected, {"type":"progress"}
 * while it runs (latency mode), {"type":"result",…} at the end. stdin lines: "go" starts the
 * loop (throughput modes stop by themselves after durationMs), "stop" ends latency mode.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { connect } from 'nats';
import { SimpleConsumer, type MessageView } from '@cirrusmq/client';

export interface WorkerSpec {
  /**
   * direct / gateway: receive + ack for durationMs; nats: fetch + ack; latency: long-poll and
   * time each message; nats-latency: the same with JetStream's streaming pull (consume()).
   */
  mode: 'direct' | 'gateway' | 'nats' | 'latency' | 'nats-latency';
  /** NameServer "host:port" (direct, latency), gateway URL, or NATS "host:port". */
  address: string;
  topic: string;
  /** Consumer group, or the JetStream durable consumer's name. */
  group: string;
  durationMs: number;
  batch: number;
  /** SimpleConsumer awaitDuration (ms). */
  awaitMs: number;
  /** direct / gateway: each batch's ack answered before the next receive starts (else the two run together). */
  awaitAcks?: boolean;
  /** Where the result is written (JSON): a result can be megabytes, more than a line on a pipe should carry. */
  resultFile: string;
  /** direct: the SDK's transport to the brokers (its default, remoting, when unset). */
  transport?: 'remoting' | 'http';
}

export interface WorkerResult {
  type: 'result';
  acked: number;
  /** Receive (or fetch) latency per call, ms, empty calls included. */
  receiveMs: number[];
  emptyReceives: number;
  errors: number;
  elapsedMs: number;
  /** The consumer process's own CPU (user + system µs) over the run: the client's cost per message. */
  cpuUs: number;
  /**
   * Latency modes: per message its sequence, the epoch ms its receive answered and its store
   * time, three numbers in a row: one flat array, not an array per message, so the measuring
   * process does not make garbage in the window it measures.
   */
  received?: number[];
}

const spec = JSON.parse(process.argv[2]!) as WorkerSpec;
const out = (o: { type: 'ready' } | { type: 'progress'; received: number } | WorkerResult) => {
  if (o.type !== 'result') return process.stdout.write(JSON.stringify(o) + '\n');
  fs.writeFileSync(spec.resultFile, JSON.stringify(o));
  return process.stdout.write('{"type":"result"}\n');
};
/** Epoch ms with sub-ms precision; the same clock as the parent's (one machine). */
const epochNow = () => performance.timeOrigin + performance.now();

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise<string>((resolve) => lines.once('line', resolve));

if (spec.mode === 'nats') await runNats();
else if (spec.mode === 'latency') await runLatency();
else if (spec.mode === 'nats-latency') await runNatsLatency();
else await runSimple();
process.exit(0);

async function runSimple(): Promise<void> {
  const consumer = new SimpleConsumer({
    ...(spec.mode === 'gateway' ? { gateway: spec.address } : { nameServer: spec.address, transport: spec.transport }),
    group: spec.group,
    topics: [spec.topic],
    awaitDuration: spec.awaitMs,
  });
  await consumer.groupConfig(); // connections and routes before the clock starts
  out({ type: 'ready' });
  await nextLine();
  const r = newResult();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + spec.durationMs;
  let lastAckAt = started;
  let pending: Promise<void> = Promise.resolve();
  while (performance.now() < deadline) {
    const t0 = performance.now();
    let messages: MessageView[];
    try {
      messages = await consumer.receive(spec.batch);
    } catch {
      r.errors++;
      continue;
    }
    r.receiveMs.push(performance.now() - t0);
    if (messages.length === 0) {
      r.emptyReceives++;
      // Every stored message was handed out: the run's time ends at the last ack, not at the deadline.
      if (r.acked > 0) break;
      continue;
    }
    const acking = consumer.ackAll(messages).then((errs) => {
      for (const e of errs) e ? r.errors++ : r.acked++;
      lastAckAt = performance.now();
    });
    // Pipelined (the default): the next receive starts now, beside the ack (through the gateway
    // it carries the ack: one request per batch). --await-acks: the ack answered first.
    if (spec.awaitAcks) await acking;
    else pending = acking;
  }
  await pending;
  r.elapsedMs = (r.acked > 0 ? lastAckAt : performance.now()) - started;
  r.cpuUs = cpuUsOf(process.cpuUsage(cpu0));
  out(r);
  consumer.close();
}

async function runNats(): Promise<void> {
  const { nc, consumer } = await natsConsumerReady();
  const r = newResult();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + spec.durationMs;
  let lastAckAt = started;
  while (performance.now() < deadline) {
    const t0 = performance.now();
    const batch = [];
    try {
      for await (const m of await consumer.fetch({ max_messages: spec.batch, expires: Math.max(1000, spec.awaitMs) })) batch.push(m);
    } catch {
      r.errors++;
      continue;
    }
    r.receiveMs.push(performance.now() - t0);
    if (batch.length === 0) r.emptyReceives++;
    // AckExplicit, one ack per message; nats.js's ack() is a publish the server does not answer.
    for (const m of batch) m.ack();
    r.acked += batch.length;
    if (batch.length > 0) lastAckAt = performance.now();
    if (batch.length < spec.batch && r.acked > 0) break; // the stream is drained, as above
  }
  await nc.flush(); // every ack has reached the server before the run is counted as over
  r.elapsedMs = (r.acked > 0 ? lastAckAt : performance.now()) - started;
  r.cpuUs = cpuUsOf(process.cpuUsage(cpu0));
  out(r);
  await nc.close();
}

async function runLatency(): Promise<void> {
  const consumer = new SimpleConsumer({ nameServer: spec.address, group: spec.group, topics: [spec.topic], awaitDuration: spec.awaitMs });
  await consumer.groupConfig();
  out({ type: 'ready' });
  await nextLine();
  const { r, progress } = latencyResult();
  let stopping = false;
  const stopped = nextLine().then(() => {
    stopping = true;
  });
  const loop = (async () => {
    while (!stopping) {
      let messages: MessageView[];
      try {
        messages = await consumer.receive(spec.batch);
      } catch {
        r.errors++;
        continue;
      }
      const at = epochNow();
      for (const m of messages) r.received.push(Number(m.properties.benchSeq), at, m.storeTimestamp);
      if (messages.length === 0) continue;
      const errs = await consumer.ackAll(messages);
      for (const e of errs) e ? r.errors++ : r.acked++;
    }
  })();
  // A long poll in flight at "stop" is not waited for: its messages were not sent in the window.
  await Promise.race([stopped, loop]);
  clearInterval(progress);
  out(r);
}

/**
 * JetStream's lowest-latency pull client: consume() keeps up to `batch` messages requested
 * ahead and refills as they are handled, so a message published while it waits is pushed at
 * once. Each message is acked (AckExplicit). The sequence is the body's first 4 bytes; the
 * store time is the stream's timestamp.
 */
async function runNatsLatency(): Promise<void> {
  const { nc, consumer } = await natsConsumerReady();
  const { r, progress } = latencyResult();
  const messages = await consumer.consume({ max_messages: spec.batch });
  const loop = (async () => {
    for await (const m of messages) {
      const d = m.data;
      const seq = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
      r.received.push(seq, epochNow(), m.info.timestampNanos / 1e6);
      m.ack();
      r.acked++;
    }
  })();
  await Promise.race([nextLine(), loop]);
  clearInterval(progress);
  out(r);
  await messages.close();
  await nc.close();
}

/** The durable consumer, looked up before "ready" so the clock starts without it; resolves at "go". */
async function natsConsumerReady() {
  const nc = await connect({ servers: spec.address });
  const consumer = await nc.jetstream().consumers.get('BENCH', spec.group);
  await consumer.info();
  out({ type: 'ready' });
  await nextLine();
  return { nc, consumer };
}

/** A latency mode's result, and its count of messages received sent as progress every 100 ms. */
function latencyResult(): { r: WorkerResult & { received: number[] }; progress: NodeJS.Timeout } {
  const r = { ...newResult(), received: [] as number[] };
  const progress = setInterval(() => out({ type: 'progress', received: r.received.length / 3 }), 100);
  return { r, progress };
}

function newResult(): WorkerResult {
  return { type: 'result', acked: 0, receiveMs: [], emptyReceives: 0, errors: 0, elapsedMs: 0, cpuUs: 0 };
}

function cpuUsOf(u: NodeJS.CpuUsage): number {
  return u.user + u.system;
}
