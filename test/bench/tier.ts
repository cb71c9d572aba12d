/**
 * npm run bench:tier [-- --segments 4 --segment 64m --runs 3 --producers 64,1024 --seconds 5]
 *
 * Tiered storage against S3 on moto_server (MOTO_ENDPOINT, or one started here), in-process:
 *
 *   upload   the uploader tiering --segments sealed segments of 1 KB messages (scan, extract,
 *            multipart upload, manifest commit) vs a plain multipart upload of the same bytes
 *            to the same endpoint with the same client settings, alternating which goes first
 *            (target: tier >= 0.8 of plain)
 *   read     every queue read from offset 0 with getMessage(max 32): hot (the segments on the
 *            local disk) vs cold (deleted locally, served from S3 by ranged GETs through the
 *            block cache with read-ahead); RSS during the cold read (target: cold >= 0.5 of hot)
 *   produce  --producers concurrent put loops of 32-message batches for --seconds: durability
 *            `s3` (ack after the write-ahead chunk, 100 ms window) vs `async` (ack after the
 *            write), msgs/s and p50/p99 (target: s3 within 2x of async)
 *   produce-http  the same through a broker process and the SDK Producer (HTTP, as producers
 *            send): NameServer + broker started per durability, S3 tier on moto for both
 *
 * Ratios are per run, then the median over --runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { LocalObjectStore } from '../../broker-node/src/tier/local-object-store';
import { LocalTierManifest } from '../../broker-node/src/tier/local-tier-manifest';
import type { ObjectStore } from '../../broker-node/src/tier/object-store';
import type { TierManifest } from '../../broker-node/src/tier/tier-manifest';
import { DynamoDbTierManifest } from '../../broker-node/src/tier/dynamodb-tier-manifest';
import { createS3Client } from '../../broker-node/src/tier/s3-client';
import { S3ObjectStore } from '../../broker-node/src/tier/s3-object-store';
import { DEFAULT_TIER_UPLOAD_CONFIG } from '../../broker-node/src/tier/tier-upload-service';
import { TieredStorage } from '../../broker-node/src/tier/tiered-storage';
import { decodeSendBatch, encodeSendBatch, NameServerClient, prepareMessage, type SendBatch, silentLogger } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { motoClientConfig, motoEndpoint, startMoto } from '../support/moto';
import { singleBrokerProcs } from '../support/single-broker';
import { createMotoTier, type MotoTier } from '../support/tier-on-moto';
import { fmt, median, percentile } from './stats';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '4' },
    segment: { type: 'string', default: '64m' },
    runs: { type: 'string', default: '3' },
    producers: { type: 'string', default: '64,1024' },
    seconds: { type: 'string', default: '5' },
    only: { type: 'string', default: 'upload,read,produce,produce-http' },
    target: { type: 'string', default: 's3' },
    block: { type: 'string', default: '4m' },
    'wal-chunk': { type: 'string', default: '4m' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:tier -- [--segments 4] [--segment 64m] [--runs 3] [--producers 64,1024] [--seconds 5] [--only upload,read,produce] [--target s3|local] [--block 4m] [--wal-chunk 4m]',
  );
  process.exit(0);
}

const MiB = 1024 * 1024;
const SEGMENT = parseSize(values.segment!);
const SEGMENTS = Number(values.segments);
const RUNS = Number(values.runs);
const PRODUCERS = values.producers!.split(',').map(Number);
const SECONDS = Number(values.seconds);
const ONLY = new Set(values.only!.split(','));
/** s3: moto_server; local: the embedded tier (a folder), to see the tier's own cost without the emulator's. */
const TARGET = values.target === 'local' ? 'local' : 's3';
const BLOCK = parseSize(values.block!);
const WAL_CHUNK = parseSize(values['wal-chunk']!);
const QUEUES = 8;
const BATCH = 32;
const log = (s: string) => process.stdout.write(s + '\n');

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

let moto = motoEndpoint();
let runId = 0;

interface Opened {
  store: DefaultMessageStore;
  tier: TieredStorage;
  objects: ObjectStore;
  dir: string;
}

function backends(motoTier: MotoTier, dir: string): { objects: ObjectStore; manifest: TierManifest } {
  const name = path.basename(dir);
  if (TARGET === 'local') {
    const root = `${dir}-tier`;
    return { objects: new LocalObjectStore(root, `bench/${name}/`), manifest: new LocalTierManifest(path.join(root, '_manifest')) };
  }
  const client = createS3Client({ region: 'us-east-1', endpoint: moto, credentials: motoClientConfig(moto!).credentials });
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient(motoClientConfig(moto!)));
  return {
    objects: new S3ObjectStore({ client, bucket: motoTier.bucket, keyPrefix: `bench/${name}/` }),
    manifest: new DynamoDbTierManifest({ doc, tableName: motoTier.tableName, clusterName: 'bench', brokerName: name }),
  };
}

/** A store on a fresh folder with an S3 tier under its own prefix (the same prefix again with `reuse`). */
async function openTieredStore(motoTier: MotoTier, options: { durability?: 's3'; reuse?: Opened; diskBudgetBytes?: number } = {}): Promise<Opened> {
  const dir = options.reuse?.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-tier-'));
  const { objects, manifest } = backends(motoTier, dir);
  const tier = new TieredStorage(
    objects,
    manifest,
    {
      storeDir: dir,
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 300_000,
      read: { blockBytes: BLOCK, cacheBytes: 64 * MiB, readAheadBlocks: 4 },
      // Uploads run only when the benchmark asks (uploadPendingNow), so they are timed alone.
      upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false },
      wal: options.durability === 's3' ? { windowMs: 100, maxChunkBytes: WAL_CHUNK, maxInFlight: 4, ackTimeoutMs: 30_000 } : undefined,
    },
    silentLogger,
  );
  const store = new DefaultMessageStore(
    {
      storeDir: dir,
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 300_000,
      flushIntervalMs: 500,
      diskBudgetBytes: options.diskBudgetBytes ?? 0,
      cleanIntervalMs: 3_600_000,
    },
    silentLogger,
    tier,
  );
  await store.open();
  return { store, tier, objects, dir };
}

async function close(o: Opened, removeDir = true): Promise<void> {
  await o.store.shutdown();
  if (!removeDir) return;
  fs.rmSync(o.dir, { recursive: true, force: true });
  fs.rmSync(`${o.dir}-tier`, { recursive: true, force: true });
}

/** Appends until `segments` segments are sealed. */
async function fill(store: DefaultMessageStore, segments: number): Promise<void> {
  for (let i = 0; store.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull()).length < segments; i++) {
    await store.putMessages(batches[i % QUEUES]!);
  }
}

/**
 * A consumer group from the start of the topic: one reader per queue, all in flight at once,
 * so they move through the log together (as RocketMQ's consumers of one group do).
 */
async function readAll(store: DefaultMessageStore): Promise<{ bytes: number; messages: number; seconds: number; maxRss: number; windows: number[] }> {
  let bytes = 0;
  let messages = 0;
  let maxRss = 0;
  const t0 = performance.now();
  // MiB/s per 500 ms window: a steady stream shows windows close to each other.
  const windows: number[] = [];
  let windowStart = t0;
  let windowBytes = 0;
  await Promise.all(
    Array.from({ length: QUEUES }, async (_, q) => {
      for (let offset = 0; ; ) {
        const got = await store.getMessage('bench', q, offset, BATCH);
        if (got.count === 0 && got.nextOffset >= got.maxOffset) return;
        bytes += got.records.length;
        windowBytes += got.records.length;
        messages += got.count;
        offset = got.nextOffset;
        const now = performance.now();
        if (now - windowStart >= 500) {
          windows.push(windowBytes / MiB / ((now - windowStart) / 1000));
          windowStart = now;
          windowBytes = 0;
        }
        if (messages % 4096 < BATCH) maxRss = Math.max(maxRss, process.memoryUsage.rss());
      }
    }),
  );
  return { bytes, messages, seconds: (performance.now() - t0) / 1000, maxRss, windows };
}

async function benchUploadAndRead(motoTier: MotoTier): Promise<{ upload: number[]; read: number[] }> {
  const uploadRatios: number[] = [];
  const readRatios: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const o = await openTieredStore(motoTier, { diskBudgetBytes: 1 });
    await fill(o.store, SEGMENTS);
    const sealed = o.store.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull());
    const bytes = sealed.length * SEGMENT;
    let tierSec = 0;
    let rawSec = 0;
    const timeTier = async () => {
      const t0 = performance.now();
      await o.tier.uploadPendingNow();
      tierSec = (performance.now() - t0) / 1000;
    };
    const timeRaw = async () => {
      const t0 = performance.now();
      for (const f of sealed) await o.objects.putObject(`plain/${++runId}`, { filePath: f.fileName, start: 0, end: f.fileSize });
      rawSec = (performance.now() - t0) / 1000;
    };
    // Alternate the order: moto and the page cache warm up over a run.
    if (run % 2 === 1) {
      await timeTier();
      await timeRaw();
    } else {
      await timeRaw();
      await timeTier();
    }
    const up = o.tier.stats();
    uploadRatios.push(rawSec / tierSec);
    if (ONLY.has('upload')) {
      log(
        `run ${run} upload: tier ${fmt(up.bytesUploaded / MiB / tierSec)} MiB/s (${up.tieredSegments} segments, ${fmt(up.bytesUploaded / MiB)} MiB) | ` +
          `plain multipart ${fmt(bytes / MiB / rawSec)} MiB/s | tier/plain ${(rawSec / tierSec).toFixed(2)}`,
      );
    }
    if (ONLY.has('read')) {
      const hot = await readAll(o.store);
      o.store.cleanCommitLogService.run();
      // A fresh process on the same disk: the block cache starts empty.
      await close(o, false);
      const reopened = await openTieredStore(motoTier, { reuse: o });
      const localMin = reopened.store.commitLog.getMinOffset();
      const cold = await readAll(reopened.store);
      const t = reopened.tier.stats();
      const ratio = cold.bytes / cold.seconds / (hot.bytes / hot.seconds);
      readRatios.push(ratio);
      // What the object store itself serves: the same segments fetched whole, two at a time.
      const segs = reopened.tier.tieredLog.list();
      const g0 = performance.now();
      let gotBytes = 0;
      for (let i = 0; i < segs.length; i += 2) {
        const pair = await Promise.all(segs.slice(i, i + 2).map((s) => reopened.objects.getObject(s.commitLogKey)));
        for (const b of pair) gotBytes += b.length;
      }
      const ceiling = gotBytes / MiB / ((performance.now() - g0) / 1000);
      log(
        `run ${run} read:   hot ${fmt(hot.bytes / MiB / hot.seconds)} MiB/s | cold ${fmt(cold.bytes / MiB / cold.seconds)} MiB/s ` +
          `(local log starts at ${fmt(localMin / MiB)} MiB; ${t.s3Requests.get} GETs, ${t.prefetches} read ahead, hit ratio ${t.cacheHitRatio.toFixed(2)}, ` +
          `max RSS ${fmt(cold.maxRss / MiB)} MiB, 500 ms windows ${steadiness(cold.windows)}) | cold/hot ${ratio.toFixed(2)} | store's own whole-object GETs ${fmt(ceiling)} MiB/s, cold/that ${(cold.bytes / MiB / cold.seconds / ceiling).toFixed(2)}` +
          (cold.messages === hot.messages ? '' : ` MISMATCH ${cold.messages} vs ${hot.messages}`),
      );
      await close(reopened);
    } else {
      await close(o);
    }
  }
  return { upload: uploadRatios, read: readRatios };
}

/** The spread of per-window rates: p10 / median / p90 MiB/s. */
function steadiness(windows: number[]): string {
  if (windows.length === 0) return 'n/a';
  const sorted = [...windows].sort((a, b) => a - b);
  return `p10 ${fmt(percentile(sorted, 10))} / p50 ${fmt(percentile(sorted, 50))} / p90 ${fmt(percentile(sorted, 90))} MiB/s`;
}

interface LoadResult {
  msgsPerSec: number;
  p50: number;
  p99: number;
}

async function putLoad(store: DefaultMessageStore, producers: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let messages = 0;
  let notOk = 0;
  await Promise.all(
    Array.from({ length: producers }, async (_, w) => {
      for (let i = w, n = 0; performance.now() < deadline; i += producers, n++) {
        const t0 = performance.now();
        const r = await store.putMessages(batches[i % QUEUES]!);
        latencies.push(performance.now() - t0);
        if (r.status === 'PUT_OK') messages += r.count;
        else notOk++;
        // An ASYNC put can finish without leaving the microtask queue: without a turn of the
        // event loop the flush timer never runs, and the baseline would skip the fdatasyncs a
        // broker pays (a broker's loop turns between requests).
        if (n % 8 === 7) await new Promise((r) => setImmediate(r));
      }
    }),
  );
  // Puts still in flight at the deadline finish after it and are counted: so is their time.
  const seconds = (performance.now() - started) / 1000;
  if (notOk > 0) log(`  ${notOk} batches not acknowledged PUT_OK`);
  latencies.sort((a, b) => a - b);
  return { msgsPerSec: messages / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** What the object store takes: PUTs of write-ahead-chunk-sized bodies, 4 in flight, for 2 s. */
async function putCeiling(motoTier: MotoTier): Promise<number> {
  const o = await openTieredStore(motoTier);
  const chunk = Buffer.alloc(WAL_CHUNK, 5);
  let bytes = 0;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() - t0 < 2000) {
        await o.objects.putObject(`ceiling/${n++}`, chunk);
        bytes += chunk.length;
      }
    }),
  );
  const mibPerSec = bytes / MiB / ((performance.now() - t0) / 1000);
  await close(o);
  return mibPerSec;
}

async function benchProduce(motoTier: MotoTier): Promise<Map<number, number[]>> {
  const ratios = new Map<number, number[]>();
  const recordBytes = batches[0]!.body.length / BATCH;
  for (let run = 1; run <= RUNS; run++) {
    const ceiling = await putCeiling(motoTier);
    log(
      `run ${run} the store takes ${fmt(ceiling)} MiB/s of ${fmt(WAL_CHUNK / MiB)} MiB PUTs, 4 in flight (= ${fmt((ceiling * MiB) / recordBytes)} msg/s of write-ahead log)`,
    );
    for (const producers of PRODUCERS) {
      const results: Record<string, LoadResult> = {};
      for (const durability of run % 2 === 1 ? (['async', 's3'] as const) : (['s3', 'async'] as const)) {
        const o = await openTieredStore(motoTier, { durability: durability === 's3' ? 's3' : undefined });
        results[durability] = await putLoad(o.store, producers);
        await close(o);
      }
      const a = results.async!;
      const s = results.s3!;
      const ratio = a.msgsPerSec / s.msgsPerSec;
      ratios.set(producers, [...(ratios.get(producers) ?? []), ratio]);
      log(
        `run ${run} produce, ${producers} producers x ${BATCH}-message batches: async ${fmt(a.msgsPerSec)} msg/s (p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms) | ` +
          `s3 ${fmt(s.msgsPerSec)} msg/s (p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms) | async/s3 ${ratio.toFixed(2)}`,
      );
    }
  }
  return ratios;
}

/** The produce comparison through a broker process: what a producer sees over HTTP. */
async function benchProduceHttp(motoTier: MotoTier): Promise<Map<number, number[]>> {
  const ratios = new Map<number, number[]>();
  const messages = Array.from({ length: BATCH }, () => ({ topic: 'bench', body }));
  for (let run = 1; run <= RUNS; run++) {
    for (const producers of PRODUCERS) {
      const results: Record<string, LoadResult> = {};
      for (const durability of run % 2 === 1 ? (['async', 's3'] as const) : (['s3', 'async'] as const)) {
        const procs = await singleBrokerProcs('cirrusmq-bench-tier-http-', {
          CIRRUSMQ_DURABILITY: durability,
          CIRRUSMQ_LOG_LEVEL: 'warn',
          CIRRUSMQ_S3_WAL_MAX_BYTES: String(WAL_CHUNK),
          ...motoTier.brokerEnv(),
          // Each run its own prefix: a fresh broker, not a restore of the last one.
          CIRRUSMQ_TIER_PREFIX: `http/${++runId}/`,
        });
        const ns = new NameServerClient(procs.nsAddr);
        const producer = new Producer({ nameServer: procs.nsAddr, maxSocketsPerBroker: Math.min(producers, 256), sendTimeoutMs: 30_000 });
        try {
          await procs.nameServer.start();
          await procs.broker.start();
          await waitFor('broker registered', 20_000, async () => (await ns.getCluster()).some((b) => b.alive));
          await ns.createTopic({ topic: 'bench', queues: QUEUES });
          await producer.sendBatch(messages); // warm the route
          const latencies: number[] = [];
          let sent = 0;
          let failed = 0;
          const started = performance.now();
          const deadline = started + SECONDS * 1000;
          await Promise.all(
            Array.from({ length: producers }, async () => {
              while (performance.now() < deadline) {
                const t0 = performance.now();
                try {
                  const r = await producer.sendBatch(messages);
                  latencies.push(performance.now() - t0);
                  const ok = r.filter((x) => x.status === 'SEND_OK').length;
                  sent += ok;
                  failed += BATCH - ok;
                } catch {
                  // A send that timed out is not throughput; it is reported.
                  failed += BATCH;
                }
              }
            }),
          );
          if (failed > 0) log(`  ${durability}: ${fmt(failed)} messages not acknowledged SEND_OK`);
          // Sends in flight at the deadline are counted, so the time they took is too.
          const seconds = (performance.now() - started) / 1000;
          latencies.sort((a, b) => a - b);
          results[durability] = { msgsPerSec: sent / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
        } finally {
          producer.shutdown();
          ns.close();
          await procs.broker.stop('SIGTERM');
          await procs.nameServer.stop('SIGTERM');
          fs.rmSync(procs.dataDir, { recursive: true, force: true });
        }
      }
      const a = results.async!;
      const s = results.s3!;
      const ratio = a.msgsPerSec / s.msgsPerSec;
      ratios.set(producers, [...(ratios.get(producers) ?? []), ratio]);
      log(
        `run ${run} produce over HTTP, ${producers} concurrent sends x ${BATCH} messages: async ${fmt(a.msgsPerSec)} msg/s (p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms) | ` +
          `s3 ${fmt(s.msgsPerSec)} msg/s (p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms) | async/s3 ${ratio.toFixed(2)}`,
      );
    }
  }
  return ratios;
}

async function main(): Promise<void> {
  let stopMoto: (() => void) | undefined;
  if (!moto) {
    const started = await startMoto();
    moto = started.endpoint;
    stopMoto = () => started.process.kill('SIGTERM');
  }
  try {
    const motoTier = await createMotoTier(moto);
    log(
      `bench:tier on ${TARGET === 'local' ? 'the local tier folder' : moto}: ${SEGMENTS} segments of ${fmt(SEGMENT / MiB)} MiB, 1 KB messages over ${QUEUES} queues, ${RUNS} runs`,
    );
    const summary: string[] = [];
    if (ONLY.has('upload') || ONLY.has('read')) {
      const r = await benchUploadAndRead(motoTier);
      if (ONLY.has('upload')) summary.push(`upload tier/plain multipart: median ${median(r.upload).toFixed(2)} (target >= 0.8)`);
      if (ONLY.has('read')) summary.push(`cold/hot sequential read: median ${median(r.read).toFixed(2)} (target >= 0.5)`);
    }
    if (ONLY.has('produce')) {
      for (const [producers, ratios] of await benchProduce(motoTier)) {
        summary.push(`produce in-process, async/s3 throughput, ${producers} producers: median ${median(ratios).toFixed(2)} (target <= 2)`);
      }
    }
    if (ONLY.has('produce-http') && TARGET === 's3') {
      for (const [producers, ratios] of await benchProduceHttp(motoTier)) {
        summary.push(`produce over HTTP, async/s3 throughput, ${producers} concurrent sends: median ${median(ratios).toFixed(2)} (target <= 2)`);
      }
    }
    log('--- medians');
    for (const line of summary) log(line);
  } finally {
    stopMoto?.();
  }
}

await main();
