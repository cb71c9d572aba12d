/**
 * One load loop of bench:grpc, in a process of its own so neither client's CPU lands in the
 * benchmark process or in the other's. Started as
 *   node --conditions=cirrusmq-source --import tsx test/bench/grpc-worker.ts '<GrpcWorkerSpec JSON>'
 * Same protocol as consume-worker.ts: {"type":"ready"} once connected (routes fetched,
 * settings received), stdin "go" starts the loop, {"type":"result"} when it is over after
 * durationMs (the result itself in resultFile).
 *
 *   sdk-send       @cirrusmq/client Producer: sendBatch of `batch`, inflight/batch calls in flight
 *   sdk-send-one   @cirrusmq/client Producer: send() of one message, `inflight` in flight (as grpc-send)
 *   grpc-send      official Producer (rocketmq-client-nodejs): send() of one message, `inflight` in flight
 *   sdk-receive    @cirrusmq/client SimpleConsumer: receive(batch) + ackAll
 *   grpc-receive   official SimpleConsumer: receive(batch) + ack of each message (the client has no batch ack)
 *   lean-send      raw grpc-js client (grpc-lean.ts): SendMessage of one message, `inflight` in flight (as grpc-send)
 *   lean-send-batch raw grpc-js client: SendMessage of `batch` messages, inflight/batch calls in flight (as sdk-send)
 *   lean-receive   raw grpc-js client: ReceiveMessage of `batch` + one AckMessage of them all
 *
 * Only acknowledged work counts: a send the server answered OK, an ack that succeeded.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { Producer as RmqProducer, SimpleConsumer as RmqSimpleConsumer } from 'rocketmq-client-nodejs';
import { type MessageView, Producer, SimpleConsumer } from '@cirrusmq/client';
import { LeanClient } from './grpc-lean';

export interface GrpcWorkerSpec {
  mode: 'sdk-send' | 'sdk-send-one' | 'grpc-send' | 'sdk-receive' | 'grpc-receive' | 'lean-send' | 'lean-send-batch' | 'lean-receive';
  /** NameServer "host:port" (sdk-*) or the gRPC proxy's "host:port" (grpc-*, lean-*). */
  address: string;
  topic: string;
  /** Consumer group (receive modes). */
  group: string;
  durationMs: number;
  /** Messages per sendBatch or per receive. */
  batch: number;
  /** Send modes: messages in flight in this process. */
  inflight: number;
  bodyBytes: number;
  /** Long-polling wait of a receive, ms. */
  awaitMs: number;
  resultFile: string;
}

export interface GrpcWorkerResult {
  type: 'result';
  /** Messages sent OK, or acked OK. */
  done: number;
  /** Latency per call (a send or sendBatch; a receive), ms. */
  callMs: number[];
  emptyReceives: number;
  errors: number;
  /** First error messages (for the log), at most 5. */
  errorSamples: string[];
  elapsedMs: number;
  /** This process's user+system CPU over the run, µs: what the client itself costs. */
  clientCpuUs: number;
}

const spec = JSON.parse(process.argv[2]!) as GrpcWorkerSpec;
const out = (o: { type: 'ready' } | GrpcWorkerResult) => {
  if (o.type !== 'result') return process.stdout.write(`${JSON.stringify(o)}\n`);
  fs.writeFileSync(spec.resultFile, JSON.stringify(o));
  return process.stdout.write('{"type":"result"}\n');
};
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise<string>((resolve) => lines.once('line', resolve));
const body = Buffer.alloc(spec.bodyBytes, 'cirrusmq-benchmark-payload-');
/** The official client logs to ~/logs/rocketmq by default; the benchmark keeps only errors, in memory. */
const quiet = { info() {}, warn() {}, debug() {}, error() {}, close() {} };

const r: GrpcWorkerResult = { type: 'result', done: 0, callMs: [], emptyReceives: 0, errors: 0, errorSamples: [], elapsedMs: 0, clientCpuUs: 0 };
const failed = (e: unknown) => {
  r.errors++;
  if (r.errorSamples.length < 5) r.errorSamples.push(e instanceof Error ? e.message : String(e));
};

switch (spec.mode) {
  case 'sdk-send':
  case 'sdk-send-one':
    await sdkSend();
    break;
  case 'grpc-send':
    await grpcSend();
    break;
  case 'sdk-receive':
    await sdkReceive();
    break;
  case 'grpc-receive':
    await grpcReceive();
    break;
  case 'lean-send':
  case 'lean-send-batch':
    await leanSend();
    break;
  case 'lean-receive':
    await leanReceive();
    break;
}
process.exit(0);

/** `loops` concurrent loops of `op` until the deadline; the run's time ends at the last success. */
async function runLoops(loops: number, op: () => Promise<number>): Promise<void> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = started + spec.durationMs;
  let lastAt = started;
  let drained = false;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < deadline && !drained) {
        const t0 = performance.now();
        let n: number;
        try {
          n = await op();
        } catch (e) {
          failed(e);
          continue;
        }
        r.callMs.push(performance.now() - t0);
        if (n < 0) {
          // An empty receive after some work: every stored message was handed out.
          drained = r.done > 0;
          continue;
        }
        r.done += n;
        lastAt = performance.now();
      }
    }),
  );
  r.elapsedMs = (r.done > 0 ? lastAt : performance.now()) - started;
  const cpu = process.cpuUsage(cpu0);
  r.clientCpuUs = cpu.user + cpu.system;
}

async function sdkSend(): Promise<void> {
  const producer = new Producer({ nameServer: spec.address });
  const messages = Array.from({ length: spec.batch }, () => ({ topic: spec.topic, body, tags: 'TagA' }));
  await producer.sendBatch(messages); // routes and connections before the clock starts
  out({ type: 'ready' });
  await nextLine();
  if (spec.mode === 'sdk-send-one') await runLoops(spec.inflight, async () => (await producer.sendBatch(messages.slice(0, 1))).length);
  else await runLoops(Math.max(1, Math.round(spec.inflight / spec.batch)), async () => (await producer.sendBatch(messages)).length);
  out(r);
  producer.shutdown();
}

async function grpcSend(): Promise<void> {
  const producer = new RmqProducer({ endpoints: spec.address, namespace: '', topics: [spec.topic], logger: quiet, requestTimeout: 10_000 });
  await producer.startup();
  await producer.send({ topic: spec.topic, body, tag: 'TagA' });
  out({ type: 'ready' });
  await nextLine();
  await runLoops(spec.inflight, async () => {
    await producer.send({ topic: spec.topic, body, tag: 'TagA' });
    return 1;
  });
  out(r);
  await producer.shutdown().catch(() => undefined);
}

async function sdkReceive(): Promise<void> {
  const consumer = new SimpleConsumer({ nameServer: spec.address, group: spec.group, topics: [spec.topic], awaitDuration: spec.awaitMs });
  await consumer.groupConfig();
  out({ type: 'ready' });
  await nextLine();
  await runLoops(1, async () => {
    const messages: MessageView[] = await consumer.receive(spec.batch);
    if (messages.length === 0) {
      r.emptyReceives++;
      return -1;
    }
    const errs = await consumer.ackAll(messages);
    let acked = 0;
    for (const e of errs) e ? failed(e) : acked++;
    return acked;
  });
  out(r);
  consumer.close();
}

async function grpcReceive(): Promise<void> {
  const consumer = new RmqSimpleConsumer({
    endpoints: spec.address,
    namespace: '',
    consumerGroup: spec.group,
    subscriptions: new Map([[spec.topic, '*']]),
    awaitDuration: spec.awaitMs,
    logger: quiet,
    requestTimeout: 10_000,
  });
  await consumer.startup();
  out({ type: 'ready' });
  await nextLine();
  await runLoops(1, async () => {
    const messages = await consumer.receive(spec.batch, 30_000);
    if (messages.length === 0) {
      r.emptyReceives++;
      return -1;
    }
    const acks = await Promise.allSettled(messages.map((m) => consumer.ack(m)));
    let acked = 0;
    for (const a of acks) a.status === 'fulfilled' ? acked++ : failed(a.reason);
    return acked;
  });
  out(r);
  await consumer.shutdown().catch(() => undefined);
}

async function leanSend(): Promise<void> {
  const client = new LeanClient(spec.address);
  const one = spec.mode === 'lean-send';
  const bodies = Array.from({ length: one ? 1 : spec.batch }, () => body);
  const sendOk = async () => {
    let ok = 0;
    for (const e of await client.send(spec.topic, bodies, 'TagA')) e.status.code === 'OK' ? ok++ : failed(`${e.status.code} ${e.status.message}`);
    return ok;
  };
  await sendOk(); // the connection before the clock starts
  out({ type: 'ready' });
  await nextLine();
  await runLoops(one ? spec.inflight : Math.max(1, Math.round(spec.inflight / spec.batch)), sendOk);
  out(r);
  client.close();
}

async function leanReceive(): Promise<void> {
  const client = new LeanClient(spec.address);
  const brokers = await client.brokers(spec.topic);
  let next = 0;
  out({ type: 'ready' });
  await nextLine();
  await runLoops(1, async () => {
    // Round robin over the brokers, as the official SimpleConsumer goes over its route's queues.
    const messages = await client.receive(spec.topic, spec.group, brokers[next++ % brokers.length]!, spec.batch, 30_000, spec.awaitMs);
    if (messages.length === 0) {
      r.emptyReceives++;
      return -1;
    }
    const { acked, failures } = await client.ack(spec.topic, spec.group, messages);
    for (const f of failures) failed(f);
    return acked;
  });
  out(r);
  client.close();
}
