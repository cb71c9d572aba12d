/**
 * npm run bench:tier-seal [-- --segment 1g --runs 3 --seconds 10 --rate 50000 --target local|s3 --upload-rate <bytes/s>]
 *
 * What a sealed segment's tier upload does to sends, in one process as in a broker (the
 * store, the uploader and the sends share one event loop and the machine's cores):
 *
 *   idle    sends at --rate msgs/s (32-message batches of 1 KB, 8 queues, open loop: each
 *           batch's latency counts from when it was due, so a stalled loop shows) for --seconds
 *   upload  the same sends while the uploader tiers one sealed segment of --segment bytes
 *           (scan, extracts, copy or multipart upload, manifest), from its start to its end
 *
 * alternating which goes first, on a fresh store per run. Per phase: the rate reached, put
 * latency p50 / p99 / p99.9 / max, event-loop delay p99 / max, process CPU; for the upload its
 * wall time, CPU seconds per GiB beyond the idle phase's, and MiB/s. --rate 0 sends flat out
 * (--producers loops) instead. --upload-rate sets the uploader's pace (default: the broker's,
 * DEFAULT_UPLOAD_BYTES_PER_SEC; 0 = no limit). --target s3 starts moto_server (or uses MOTO_ENDPOINT).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { decodeSendBatch, encodeSendBatch, prepareMessage, type SendBatch, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { LocalObjectStore } from '../../broker-node/src/tier/local-object-store';
import { LocalTierManifest } from '../../broker-node/src/tier/local-tier-manifest';
import type { ObjectStore } from '../../broker-node/src/tier/object-store';
import { createS3Client } from '../../broker-node/src/tier/s3-client';
import { S3ObjectStore } from '../../broker-node/src/tier/s3-object-store';
import * as uploadService from '../../broker-node/src/tier/tier-upload-service';
import { TieredStorage } from '../../broker-node/src/tier/tiered-storage';
import { motoClientConfig, motoEndpoint, startMoto } from '../support/moto';
import { createMotoTier } from '../support/tier-on-moto';
import { fmt, median, percentile } from './stats';

const { values } = parseArgs({
  options: {
    segment: { type: 'string', default: '1g' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50000' },
    producers: { type: 'string', default: '16' },
    target: { type: 'string', default: 'local' },
    'upload-rate': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:tier-seal -- [--segment 1g] [--runs 3] [--seconds 10] [--rate 50000 (msgs/s; 0 = flat out)] [--producers 16] [--target local|s3] [--upload-rate <bytes/s>]',
  );
  process.exit(0);
}

const MiB = 1024 * 1024;
const SEGMENT = parseSize(values.segment!);
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const PRODUCERS = Number(values.producers);
const TARGET = values.target === 's3' ? 's3' : 'local';
// Read through the namespace: the same file runs against commits from before the pace existed (A/B).
const DEFAULT_CONFIG = uploadService.DEFAULT_TIER_UPLOAD_CONFIG as uploadService.TierUploadConfig & { uploadBytesPerSec?: number };
const UPLOAD_RATE = values['upload-rate'] !== undefined ? parseSize(values['upload-rate']) : DEFAULT_CONFIG.uploadBytesPerSec;
const QUEUES = 8;
const BATCH = 32;
const log = (s: string) => process.stdout.write(`${s}\n`);

function parseSize(s: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

const body = Buffer.alloc(1024, 'cirrusmq-tier-benchmark-payload-');
const batches: SendBatch[] = Array.from({ length: QUEUES }, (_, q) =>
  decodeSendBatch(
    encodeSendBatch(
      'bench',
      q,
      Array.from({ length: BATCH }, () => prepareMessage({ topic: 'bench', body, tags: 'TagA' })),
    ),
    BATCH,
  ),
);

interface Opened {
  store: DefaultMessageStore;
  tier: TieredStorage;
  dir: string;
}

async function open(moto: string | undefined): Promise<Opened> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-seal-'));
  let objects: ObjectStore;
  if (TARGET === 's3') {
    const motoTier = await createMotoTier(moto!);
    const client = createS3Client({ region: 'us-east-1', endpoint: moto, credentials: motoClientConfig(moto!).credentials });
    objects = new S3ObjectStore({ client, bucket: motoTier.bucket, keyPrefix: `bench/${path.basename(dir)}/` });
  } else {
    objects = new LocalObjectStore(`${dir}-tier`, `bench/${path.basename(dir)}/`);
  }
  const tier = new TieredStorage(
    objects,
    // The manifest in a local file for both: its commit is one small write, not what is measured.
    new LocalTierManifest(path.join(`${dir}-tier`, '_manifest')),
    {
      storeDir: dir,
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 300_000,
      read: { blockBytes: 4 * MiB, cacheBytes: 64 * MiB, readAheadBlocks: 4 },
      // Uploads only when the benchmark asks, so one starts exactly with the upload phase.
      upload: { ...DEFAULT_CONFIG, autoUpload: false, uploadBytesPerSec: UPLOAD_RATE },
    },
    silentLogger,
  );
  const store = new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 300_000, flushIntervalMs: 500, diskBudgetBytes: 0, cleanIntervalMs: 3_600_000 },
    silentLogger,
    tier,
  );
  await store.open();
  return { store, tier, dir };
}

async function close(o: Opened): Promise<void> {
  await o.store.shutdown();
  fs.rmSync(o.dir, { recursive: true, force: true });
  fs.rmSync(`${o.dir}-tier`, { recursive: true, force: true });
}

interface Phase {
  msgsPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  eldP99: number;
  eldMax: number;
  cpuSeconds: number;
  seconds: number;
  uploadSeconds?: number;
  notOk: number;
}

/**
 * Sends for SECONDS, or while `upload` runs (its figures are the upload's, however long it
 * takes). Fixed rate: one timer every ms sends the batches due by then, each timed from when
 * it was due (no coordinated omission).
 */
async function sendPhase(store: DefaultMessageStore, upload: Promise<unknown> | undefined): Promise<Phase> {
  let done = false;
  const started = performance.now();
  const ended = upload ?? new Promise((r) => setTimeout(r, SECONDS * 1000));
  const latencies: number[] = [];
  let messages = 0;
  let notOk = 0;
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  const cpu0 = process.cpuUsage();
  const put = async (i: number, dueAt: number) => {
    const r = await store.putMessages(batches[i % QUEUES]!);
    latencies.push(performance.now() - dueAt);
    if (r.status === 'PUT_OK') messages += r.count;
    else notOk++;
  };
  const stopping = ended.then(() => {
    done = true;
  });
  const inFlight: Promise<void>[] = [];
  if (RATE > 0) {
    const perMs = RATE / BATCH / 1000;
    let sent = 0;
    while (!done) {
      const due = Math.floor((performance.now() - started) * perMs);
      for (; sent < due; sent++) inFlight.push(put(sent, started + sent / perMs));
      if (inFlight.length > 4096) await Promise.all(inFlight.splice(0));
      await new Promise((r) => setTimeout(r, 1));
    }
  } else {
    inFlight.push(
      ...Array.from({ length: PRODUCERS }, async (_, w) => {
        for (let i = w, n = 0; !done; i += PRODUCERS, n++) {
          await put(i, performance.now());
          // A turn of the loop now and then, as a broker's loop turns between requests.
          if (n % 8 === 7) await new Promise((r) => setImmediate(r));
        }
      }),
    );
  }
  await stopping;
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  eld.disable();
  latencies.sort((a, b) => a - b);
  return {
    msgsPerSec: messages / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies.at(-1) ?? NaN,
    eldP99: eld.percentile(99) / 1e6,
    eldMax: eld.max / 1e6,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    seconds,
    uploadSeconds: upload ? seconds : undefined,
    notOk,
  };
}

function line(name: string, p: Phase): string {
  return (
    `${name.padEnd(6)} ${fmt(p.msgsPerSec).padStart(8)} msgs/s  put p50 ${p.p50.toFixed(2)} p99 ${p.p99.toFixed(2)} p99.9 ${p.p999.toFixed(2)} max ${p.max.toFixed(1)} ms  ` +
    `loop delay p99 ${p.eldP99.toFixed(1)} max ${p.eldMax.toFixed(1)} ms  CPU ${p.cpuSeconds.toFixed(2)} s over ${p.seconds.toFixed(1)} s` +
    (p.uploadSeconds !== undefined ? `  upload ${p.uploadSeconds.toFixed(1)} s` : '') +
    (p.notOk ? `  ${p.notOk} batches not PUT_OK` : '')
  );
}

async function main(): Promise<void> {
  let moto = motoEndpoint();
  let stopMoto: (() => void) | undefined;
  if (TARGET === 's3' && !moto) {
    const started = await startMoto();
    moto = started.endpoint;
    stopMoto = () => started.process.kill('SIGTERM');
  }
  const pace = UPLOAD_RATE === undefined ? 'none (this commit has no pace)' : UPLOAD_RATE === 0 ? 'no limit' : `${fmt(UPLOAD_RATE / MiB)} MiB/s`;
  log(
    `bench:tier-seal: ${TARGET === 's3' ? `S3 on ${moto}` : 'the local tier folder'}; a ${fmt(SEGMENT / MiB)} MiB segment; sends ${RATE > 0 ? `at ${fmt(RATE)} msgs/s` : `flat out (${PRODUCERS} loops)`} of 1 KB in batches of ${BATCH}; upload pace ${pace}; ${RUNS} runs; load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const ratios = { rate: [] as number[], p99: [] as number[], cpuPerGiB: [] as number[], uploadSeconds: [] as number[] };
  try {
    for (let run = 1; run <= RUNS; run++) {
      const o = await open(moto);
      for (let i = 0; o.store.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull()).length < 1; i++) {
        await o.store.putMessages(batches[i % QUEUES]!);
      }
      // The fill's flushes settle before anything is timed.
      await new Promise((r) => setTimeout(r, 1000));
      const phases: Record<string, Phase> = {};
      const order = run % 2 === 1 ? ['idle', 'upload'] : ['upload', 'idle'];
      for (const name of order) {
        phases[name] = await sendPhase(o.store, name === 'upload' ? o.tier.uploadPendingNow() : undefined);
      }
      const idle = phases.idle!;
      const up = phases.upload!;
      const uploaded = o.tier.stats().bytesUploaded;
      // The upload's CPU: the upload phase's, less what its sends cost at the idle phase's rate per second.
      const uploadCpu = up.cpuSeconds - (idle.cpuSeconds / idle.seconds) * up.seconds * (up.msgsPerSec / idle.msgsPerSec);
      const cpuPerGiB = uploadCpu / (uploaded / 1024 / MiB);
      log(`run ${run} (${order.join(' then ')}; load ${os.loadavg()[0]!.toFixed(1)})`);
      log(`  ${line('idle', idle)}`);
      log(`  ${line('upload', up)}`);
      log(
        `  upload: ${fmt(uploaded / MiB)} MiB in ${up.uploadSeconds!.toFixed(1)} s (${fmt(uploaded / MiB / up.uploadSeconds!)} MiB/s), ~${cpuPerGiB.toFixed(2)} CPU s/GiB beyond the sends | ` +
          `upload/idle: rate ${(up.msgsPerSec / idle.msgsPerSec).toFixed(2)}, p99 ${(up.p99 / idle.p99).toFixed(2)}`,
      );
      ratios.rate.push(up.msgsPerSec / idle.msgsPerSec);
      ratios.p99.push(up.p99 / idle.p99);
      ratios.cpuPerGiB.push(cpuPerGiB);
      ratios.uploadSeconds.push(up.uploadSeconds!);
      await close(o);
    }
  } finally {
    stopMoto?.();
  }
  log(
    `--- medians of ${RUNS}: upload/idle send rate ${median(ratios.rate).toFixed(2)}, p99 ${median(ratios.p99).toFixed(2)}; upload ${median(ratios.uploadSeconds).toFixed(1)} s, ${median(ratios.cpuPerGiB).toFixed(2)} CPU s/GiB; load ${os.loadavg()[0]!.toFixed(1)}`,
  );
}

await main();
