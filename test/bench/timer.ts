/**
 * npm run bench:timer -- [--timers 1000000] [--burst 100000] [--sends 200000] [--e2e 400000] [--producers 16] [--precision-ms 50] [--only pending|burst|fire|throughput|e2e]
 *
 * The timer store measured at store level (one process: DefaultMessageStore + TimerMessageStore,
 * the broker's put path for scheduled records), for issue 14's figures:
 *   1. pending timers: `--timers` messages (100-byte bodies) scheduled 1 to 2 hours ahead, all
 *      enqueued into the wheel; RSS and heap before and after (after a GC), so the cost per
 *      pending timer is what the process holds, not the page cache of its files;
 *   2. burst: `--burst` timers due within one second; lateness of each (its delivered record's
 *      store time minus its TIMER_OUT_MS) p50 / p99 / max, and the time until the last fired;
 *   2b. fire: the same burst fired by one pass on a clock of the bench's own, CPU per timer of
 *      the firing alone (what the burst's lateness on a busy machine follows);
 *   3. throughput: `--sends` messages in batches of 32 through the put path, plain and delayed
 *      alternately (A B A B), messages/s each and the ratio (a delayed run includes the timer
 *      loop's enqueue of what it sent; delayed batches in the timer form, as the SDK sends them);
 *      then `--e2e` messages the same way through a broker process with the SDK (0 skips).
 * Run with --expose-gc for exact heap figures (the script uses it when present).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Producer } from '@cirrusmq/client';
import {
  decodeRecords,
  decodeSendBatch,
  encodeSendBatch,
  encodeTimerBatch,
  MessageConst,
  NameServerClient,
  type PreparedMessage,
  prepareMessage,
  silentLogger,
} from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { TimerMessageStore } from '../../broker-node/src/timer/timer-message-store';
import { putMessagesWithTimers } from '../../broker-node/src/timer/timer-put';
import { waitFor } from '../../infra/local/wait-for';
import { cpuSeconds, withChildren } from './proc-cpu';
import { singleBrokerProcs } from '../support/single-broker';

const { values } = parseArgs({
  options: {
    timers: { type: 'string', default: '1000000' },
    burst: { type: 'string', default: '100000' },
    sends: { type: 'string', default: '200000' },
    e2e: { type: 'string', default: '400000' },
    producers: { type: 'string', default: '16' },
    /** The wheel tick: the broker's default (CIRRUSMQ_TIMER_PRECISION_MS). */
    'precision-ms': { type: 'string', default: '50' },
    /** One part alone (the others skipped). */
    only: { type: 'string' },
  },
});
const only = values.only;
if (only !== undefined && !['pending', 'burst', 'fire', 'throughput', 'e2e'].includes(only))
  throw new Error(`--only takes pending, burst, fire, throughput or e2e, not ${only}`);
const runs = (part: string) => only === undefined || only === part;
const TIMERS = Number(values.timers);
const BURST = Number(values.burst);
const PRECISION_MS = Number(values['precision-ms']);
const SENDS = Number(values.sends);
const MiB = 1024 * 1024;
const BODY = 'x'.repeat(100);
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): { rss: number; heap: number } {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss / MiB, heap: m.heapUsed / MiB };
}

async function open(dir: string, now?: () => number) {
  const store = await new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 512 * MiB, consumeQueueUnitsPerFile: 1_000_000, flushIntervalMs: 500 },
    silentLogger,
  ).open();
  const timer = new TimerMessageStore(
    store,
    { storeDir: dir, precisionMs: PRECISION_MS, wheelSpanMs: 86_400_000, maxDelayMs: 40 * 86_400_000, now },
    silentLogger,
  );
  await timer.recover();
  return { store, timer };
}

/** A send batch as the SDK's Producer encodes it: scheduled messages in the timer form (codec/timer-batch.ts). */
function sdkBatch(topic: string, prepared: PreparedMessage[], now: number): Buffer {
  return encodeTimerBatch(topic, 0, prepared, now) ?? encodeSendBatch(topic, 0, prepared);
}

/** Schedules `n` messages on `topic` in batches of 1000; deliverAt(i) says when. */
async function schedule(ctx: Awaited<ReturnType<typeof open>>, topic: string, n: number, deliverAt: (i: number) => number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const now = Date.now();
    const prepared: PreparedMessage[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) prepared.push(prepareMessage({ topic, body: BODY, deliverAt: deliverAt(j) }, 4096, now, true));
    await putMessagesWithTimers(ctx.store, ctx.timer, decodeSendBatch(sdkBatch(topic, prepared, now), 1000));
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function pending(dir: string): Promise<void> {
  const ctx = await open(dir);
  const before = memory();
  const t0 = performance.now();
  const base = Date.now() + 3_600_000;
  await schedule(ctx, 'Pending', TIMERS, (i) => base + Math.floor((i * 3_600_000) / TIMERS));
  const stored = performance.now();
  await ctx.timer.pass();
  const enqueued = performance.now();
  const after = memory();
  console.log(
    `pending: ${ctx.timer.pendingCount()} timers stored in ${((stored - t0) / 1000).toFixed(1)} s, enqueued in ${((enqueued - stored) / 1000).toFixed(1)} s; ` +
      `RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB (+${(after.rss - before.rss).toFixed(0)}), heap ${before.heap.toFixed(0)} -> ${after.heap.toFixed(0)} MiB (+${(after.heap - before.heap).toFixed(0)})${gc ? '' : ' (no --expose-gc)'}`,
  );
  const files = (d: string) => fs.readdirSync(d).reduce((s, f) => s + fs.statSync(path.join(d, f)).blocks * 512, 0);
  console.log(
    `pending: timer log ${(files(path.join(dir, 'timer', 'timerlog')) / MiB).toFixed(0)} MiB on disk, wheel ${(fs.statSync(path.join(dir, 'timer', 'timerwheel')).blocks / 2048).toFixed(1)} MiB on disk`,
  );
  await ctx.timer.close();
  await ctx.store.shutdown();
}

async function burst(dir: string): Promise<void> {
  const ctx = await open(dir);
  ctx.timer.start();
  const second = Math.ceil((Date.now() + 4_000 + BURST / 50) / 1000) * 1000;
  const t0 = performance.now();
  await schedule(ctx, 'Burst', BURST, (i) => second + (i % 1000));
  console.log(`burst: ${BURST} timers due in [${new Date(second).toISOString()}, +1 s) stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const lateness: number[] = [];
  let offset = 0;
  const deadline = second + 60_000;
  // CPU time from the due second on (firing, and this loop's reads): the figure a busy machine's scheduling does not move.
  await waitFor('the burst to fall due', 60_000, async () => Date.now() >= second);
  const cpu0 = process.cpuUsage();
  while (lateness.length < BURST && Date.now() < deadline) {
    const got = await ctx.store.getMessage('Burst', 0, offset, 1000);
    if (got.count === 0) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    for (const m of decodeRecords(got.records)) lateness.push(m.storeTimestamp - Number(m.properties[MessageConst.TIMER_OUT_MS]));
    offset = got.nextOffset;
  }
  const cpu = process.cpuUsage(cpu0);
  lateness.sort((a, b) => a - b);
  const early = lateness.filter((l) => l < 0).length;
  console.log(
    `burst: ${lateness.length}/${BURST} fired; lateness p50 ${pct(lateness, 50)} ms, p99 ${pct(lateness, 99)} ms, max ${lateness[lateness.length - 1]} ms; early ${early}; ` +
      `CPU ${((cpu.user + cpu.system) / lateness.length).toFixed(1)} µs per fired timer (load ${os.loadavg()[0]!.toFixed(1)})`,
  );
  await ctx.timer.close();
  await ctx.store.shutdown();
}

/**
 * The firing alone, on a clock of its own: `--burst` timers due in one second, enqueued, then one
 * pass with the clock past them fires them all. Its CPU per timer is the firing's cost without
 * the burst part's reader, scheduling and waits in the same window (3 rounds).
 */
async function fire(dir: string): Promise<void> {
  let clock = Date.now();
  const ctx = await open(dir, () => clock);
  const rows: string[] = [];
  for (let round = 0; round < 3; round++) {
    // Ahead of both clocks: the last round moved the timer store's past the real one.
    const due = Math.ceil((Math.max(Date.now(), clock) + 60_000) / 1000) * 1000;
    await schedule(ctx, `Fire${round}`, BURST, (i) => due + (i % 1000));
    await ctx.timer.pass();
    const fired0 = ctx.timer.counters.fired;
    gc?.();
    clock = due + 1000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await ctx.timer.pass();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const fired = ctx.timer.counters.fired - fired0;
    if (fired !== BURST || ctx.store.getMaxOffsetInQueue(`Fire${round}`, 0) !== BURST) throw new Error(`fired ${fired} of ${BURST}`);
    rows.push(`${((cpu.user + cpu.system) / fired).toFixed(2)} µs CPU, ${((ms * 1000) / fired).toFixed(2)} µs wall`);
  }
  console.log(`fire: ${BURST} due timers fired by one pass, per timer: ${rows.join('; ')} (load ${os.loadavg()[0]!.toFixed(1)})`);
  await ctx.timer.close();
  await ctx.store.shutdown();
}

async function throughput(dir: string): Promise<void> {
  const ctx = await open(dir);
  const cpuUs = { plain: 0, delayed: 0 };
  const run = async (delayed: boolean, n: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += 32) {
      const now = Date.now();
      const prepared = Array.from({ length: 32 }, () =>
        prepareMessage({ topic: 'Tput', body: BODY, ...(delayed ? { delaySeconds: 3600 } : {}) }, 4096, now, true),
      );
      await putMessagesWithTimers(ctx.store, ctx.timer, decodeSendBatch(sdkBatch('Tput', prepared, now), 1000));
    }
    // The timer loop's share (enqueueing what was sent) counts against the delayed sends.
    if (delayed) await ctx.timer.pass();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    cpuUs[delayed ? 'delayed' : 'plain'] += cpu.user + cpu.system;
    return n / seconds;
  };
  const rates = { plain: [] as number[], delayed: [] as number[] };
  for (let round = 0; round < 4; round++) {
    rates.plain.push(await run(false, SENDS / 8));
    rates.delayed.push(await run(true, SENDS / 8));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `throughput (batches of 32, in process): plain ${mean(rates.plain).toFixed(0)} msg/s, delayed ${mean(rates.delayed).toFixed(0)} msg/s, ratio ${(mean(rates.delayed) / mean(rates.plain)).toFixed(2)}; ` +
      `CPU µs/msg plain ${(cpuUs.plain / (SENDS / 2)).toFixed(2)}, delayed ${(cpuUs.delayed / (SENDS / 2)).toFixed(2)} (plain/delayed ${(cpuUs.plain / cpuUs.delayed).toFixed(2)}, load ${os.loadavg()[0]!.toFixed(1)})`,
  );
  await ctx.timer.close();
  await ctx.store.shutdown();
}

/**
 * The same comparison as a user sees it: a NameServer and a broker as processes, the SDK's
 * Producer, `producers` loops of sendBatch(32) in this process, plain and delayed (1 h)
 * alternately; the broker's timer loop runs as in production.
 */
async function endToEnd(n: number, concurrency: number): Promise<void> {
  const procs = await singleBrokerProcs('cirrusmq-bench-timer-e2e-', { CIRRUSMQ_LOG_LEVEL: 'warn' });
  const ns = new NameServerClient(procs.nsAddr);
  const producer = new Producer({ nameServer: procs.nsAddr, sendTimeoutMs: 30_000 });
  try {
    await procs.nameServer.start();
    await procs.broker.start();
    await waitFor('broker registered', 60_000, async () => (await ns.getCluster()).some((b) => b.alive));
    await ns.createTopic({ topic: 'TimerE2e', queues: 8 });
    const brokerPid = procs.broker.child!.pid!;
    const cpu = { plain: { broker: 0, sdk: 0, n: 0 }, delayed: { broker: 0, sdk: 0, n: 0 } };
    const run = async (delayed: boolean, count: number) => {
      let next = 0;
      const broker0 = cpuSeconds(withChildren([brokerPid]));
      const sdk0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while ((next += 32) <= count) {
            const deliverAt = delayed ? Date.now() + 3_600_000 : undefined;
            await producer.sendBatch(Array.from({ length: 32 }, () => ({ topic: 'TimerE2e', body: BODY, ...(deliverAt ? { deliverAt } : {}) })));
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const sdk = process.cpuUsage(sdk0);
      const c = cpu[delayed ? 'delayed' : 'plain'];
      c.broker += cpuSeconds(withChildren([brokerPid])) - broker0;
      c.sdk += (sdk.user + sdk.system) / 1e6;
      c.n += count;
      return count / seconds;
    };
    await run(false, 20_000);
    await run(true, 20_000);
    cpu.plain = { broker: 0, sdk: 0, n: 0 };
    cpu.delayed = { broker: 0, sdk: 0, n: 0 };
    const rates = { plain: [] as number[], delayed: [] as number[] };
    for (let round = 0; round < 4; round++) {
      rates.plain.push(await run(false, n / 8));
      rates.delayed.push(await run(true, n / 8));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `end to end (${concurrency} loops of sendBatch(32), SDK -> broker process): plain ${mean(rates.plain).toFixed(0)} msg/s, delayed ${mean(rates.delayed).toFixed(0)} msg/s, ratio ${(mean(rates.delayed) / mean(rates.plain)).toFixed(2)}`,
    );
    // CPU per message, which the machine's load moves less than the rates: the broker's (its timer loop included) and this process's (the SDK).
    const us = (c: { broker: number; sdk: number; n: number }) => ({ broker: (c.broker * 1e6) / c.n, sdk: (c.sdk * 1e6) / c.n });
    const p = us(cpu.plain);
    const d = us(cpu.delayed);
    console.log(
      `end to end CPU µs/msg: broker plain ${p.broker.toFixed(2)}, delayed ${d.broker.toFixed(2)} (plain/delayed ${(p.broker / d.broker).toFixed(2)}); ` +
        `SDK plain ${p.sdk.toFixed(2)}, delayed ${d.sdk.toFixed(2)}; both plain/delayed ${((p.broker + p.sdk) / (d.broker + d.sdk)).toFixed(2)} (load ${os.loadavg()[0]!.toFixed(1)})`,
    );
  } finally {
    producer.shutdown();
    ns.close();
    await procs.broker.stop('SIGTERM');
    await procs.nameServer.stop('SIGTERM');
    fs.rmSync(procs.dataDir, { recursive: true, force: true });
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-timer-'));
try {
  if (TIMERS > 0 && runs('pending')) await pending(path.join(root, 'pending'));
  if (BURST > 0 && runs('burst')) await burst(path.join(root, 'burst'));
  if (BURST > 0 && runs('fire')) await fire(path.join(root, 'fire'));
  if (SENDS > 0 && runs('throughput')) await throughput(path.join(root, 'tput'));
  if (Number(values.e2e) > 0 && runs('e2e')) await endToEnd(Number(values.e2e), Number(values.producers));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
