/**
 * npm run bench:store [-- --bytes 1g --batch 32 --queues 8 --producers 256 --segment 1g --only async,sync --rss-gib 4]
 *
 * The broker's store in-process (no HTTP): 1 KB messages over 8 queues through
 * DefaultMessageStore.putMessages in batches of 32, for a fixed byte count of records, and in
 * the same run the baselines for the same bytes: records copied into a reused 1 MiB buffer,
 * with a CRC32 of each record, or written with fs.writeSync, without and with fdatasync every
 * 4 MiB.
 *
 *   copy+crc32          each record copied and its CRC32 computed (zlib, one thread), no I/O
 *   raw                 writeSync, no fdatasync
 *   raw+fdatasync       writeSync, fdatasync every 4 MiB
 *   store ASYNC_FLUSH   one put loop (the ack follows the write), vs copy+crc32 and raw
 *   store SYNC_FLUSH    --producers concurrent put loops sharing group commits, vs raw+fdatasync
 *
 * Each put decodes its batch from the encoded bytes (decodeSendBatch), as a broker does for
 * every request; only PUT_OK puts count as throughput (a FLUSH_DISK_TIMEOUT is reported, not
 * counted). Prints msgs/s, MB/s, p50/p99 latency of one putMessages (one batch), the ratios
 * (targets: ASYNC >= 0.8 of copy+crc32, SYNC >= 0.5 of raw+fdatasync) and the RSS after writing.
 * --rss-gib N (0 to skip; default 4) then writes N GiB ASYNC and prints RSS at each GiB.
 * Every phase writes into a fresh folder under --dir (default the OS temp dir), deleted after;
 * `sync` runs between phases so one phase's dirty pages do not slow the next.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import type { MessageStoreConfig } from '../../broker-node/src/store/message-store-types';
import { computeRecordCrc, decodeSendBatch, encodeSendBatch, prepareMessage, type SendBatch, silentLogger } from '@cirrusmq/client/protocol';
import { fmt, percentile } from './stats';

const { values } = parseArgs({
  options: {
    bytes: { type: 'string', default: '1g' },
    batch: { type: 'string', default: '32' },
    queues: { type: 'string', default: '8' },
    producers: { type: 'string', default: '256' },
    segment: { type: 'string', default: '1g' },
    only: { type: 'string', default: 'raw,async,sync' },
    'rss-gib': { type: 'string', default: '4' },
    prealloc: { type: 'string', default: 'false' },
    dir: { type: 'string', default: os.tmpdir() },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:store -- [--bytes 1g] [--batch 32] [--queues 8] [--producers 256] [--segment 1g] [--only raw,async,sync] [--rss-gib 4] [--prealloc true|false] [--dir DIR]',
  );
  process.exit(0);
}

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a byte count: ${s}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

const TOTAL = parseBytes(values.bytes!);
const BATCH = Number(values.batch);
const QUEUES = Number(values.queues);
const PRODUCERS = Number(values.producers);
const SEGMENT = parseBytes(values.segment!);
const ONLY = new Set(values.only!.split(','));
const RSS_GIB = Number(values['rss-gib']);
const PREALLOC = values.prealloc !== 'false';
const MSG_BYTES = 1024;
const RAW_BUFFER = 1024 * 1024;
const RAW_SYNC_EVERY = 4 * 1024 * 1024;
const MB = 1024 * 1024;

const log = (s: string) => process.stdout.write(s + '\n');

// One encoded batch per queue; every put decodes it again (the store copies records out of
// the bytes, so reusing them is safe), as a broker decodes each request it receives.
const body = Buffer.alloc(MSG_BYTES, 'cirrusmq-store-benchmark-payload-');
const encoded: Buffer[] = Array.from({ length: QUEUES }, (_, q) =>
  encodeSendBatch(
    'bench',
    q,
    Array.from({ length: BATCH }, () => prepareMessage({ topic: 'bench', body, tags: 'TagA' })),
  ),
);
const batchOf = (q: number): SendBatch => decodeSendBatch(encoded[q % QUEUES]!, BATCH);
const batches: SendBatch[] = encoded.map((_, q) => batchOf(q));
const RECORD_BYTES = batches[0]!.records[0]!.shape.size;
const BATCH_BYTES = RECORD_BYTES * BATCH;
const PUTS = Math.ceil(TOTAL / BATCH_BYTES);
const MESSAGES = PUTS * BATCH;
const BYTES = PUTS * BATCH_BYTES;

interface Result {
  name: string;
  seconds: number;
  msgsPerSec: number;
  mbPerSec: number;
  p50Ms?: number;
  p99Ms?: number;
  note?: string;
}

function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(values.dir!, `cirrusmq-bench-store-${tag}-`));
}

function settle(): void {
  execSync('sync');
}

/** `okMessages`: the messages acknowledged PUT_OK (all, for the baselines). */
function result(name: string, seconds: number, latencies?: Float64Array, note?: string, okMessages = MESSAGES): Result {
  let p50Ms: number | undefined;
  let p99Ms: number | undefined;
  if (latencies) {
    const sorted = Array.from(latencies).sort((a, b) => a - b);
    p50Ms = percentile(sorted, 50);
    p99Ms = percentile(sorted, 99);
  }
  return { name, seconds, msgsPerSec: okMessages / seconds, mbPerSec: (okMessages * RECORD_BYTES) / MB / seconds, p50Ms, p99Ms, note };
}

/**
 * The CPU baseline of an append: each record copied into a reused 1 MiB buffer and its CRC32
 * computed (the least the store must do), one thread, no I/O.
 */
function copyCrc(): Result {
  const buf = Buffer.allocUnsafe(RAW_BUFFER);
  const src = batches[0]!;
  let pos = 0;
  let sum = 0;
  const t0 = performance.now();
  for (let p = 0; p < PUTS; p++) {
    for (const r of src.records) {
      if (pos + r.shape.size > RAW_BUFFER) pos = 0;
      src.body.copy(buf, pos, r.pos, r.pos + r.shape.size);
      sum = (sum + computeRecordCrc(buf, pos, r.shape.size)) >>> 0;
      pos += r.shape.size;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return result('copy+crc32', seconds, undefined, `(no I/O; checksum sum ${sum})`);
}

/** The raw baseline: the same records copied one by one into a reused 1 MiB buffer, one writeSync per full buffer. */
function rawWrite(withSync: boolean): Result {
  const dir = tempDir('raw');
  const file = path.join(dir, 'raw.log');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(RAW_BUFFER);
  const src = batches[0]!;
  let pos = 0;
  let filePos = 0;
  let sinceSync = 0;
  const t0 = performance.now();
  for (let p = 0; p < PUTS; p++) {
    for (const r of src.records) {
      if (pos + r.shape.size > RAW_BUFFER) {
        fs.writeSync(fd, buf, 0, pos, filePos);
        filePos += pos;
        sinceSync += pos;
        pos = 0;
        if (withSync && sinceSync >= RAW_SYNC_EVERY) {
          fs.fdatasyncSync(fd);
          sinceSync = 0;
        }
      }
      src.body.copy(buf, pos, r.pos, r.pos + r.shape.size);
      pos += r.shape.size;
    }
  }
  fs.writeSync(fd, buf, 0, pos, filePos);
  if (withSync) fs.fdatasyncSync(fd);
  const seconds = (performance.now() - t0) / 1000;
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
  return result(withSync ? 'raw+fdatasync/4MiB' : 'raw', seconds);
}

async function openStore(dir: string, overrides: Partial<MessageStoreConfig>): Promise<DefaultMessageStore> {
  const store = new DefaultMessageStore(
    {
      storeDir: dir,
      commitLogSegmentBytes: SEGMENT,
      consumeQueueUnitsPerFile: 300_000,
      flushIntervalMs: 500,
      preallocateSegments: PREALLOC,
      ...overrides,
    },
    silentLogger,
  ).load();
  // A running broker has its next segment prepared long before it needs it: start there.
  await store.commitLog.mappedFileQueue.allocator?.whenReady();
  return store;
}

function storeNote(store: DefaultMessageStore): string {
  const s = store.stats();
  const alloc = store.commitLog.mappedFileQueue.allocator;
  return (
    `flushes ${s.flushTotal} (p50 ${fmt(s.flushLatencyP50Ms, 2)} ms, p99 ${fmt(s.flushLatencyP99Ms, 2)} ms), ` +
    `FLUSH_DISK_TIMEOUT ${s.flushDiskTimeoutTotal}` +
    (alloc ? `, segments preallocated ${alloc.preallocatedTaken} / sparse ${alloc.sparseCreated}` : '') +
    `, RSS ${fmt(process.memoryUsage.rss() / MB)} MiB`
  );
}

async function storeAsync(): Promise<Result> {
  const dir = tempDir('async');
  const store = await openStore(dir, { flushDiskType: 'ASYNC_FLUSH' });
  const latencies = new Float64Array(PUTS);
  let ok = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let p = 0; p < PUTS; p++) {
    const s = performance.now();
    const r = await store.putMessages(batchOf(p));
    latencies[p] = performance.now() - s;
    if (r.status === 'PUT_OK') ok += BATCH;
    // A broker's event loop turns between requests, so the flush timer runs (fdatasync every
    // flushIntervalMs, then the checkpoint): without this the loop would starve it.
    if (p % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const note =
    `process CPU ${fmt((100 * (cpu.user + cpu.system)) / 1e6 / seconds)}% of one core (user+sys); ` +
    storeNote(store) +
    (ok < MESSAGES ? `, ${fmt(MESSAGES - ok)} messages not PUT_OK (not counted)` : '');
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  return result('store ASYNC_FLUSH', seconds, latencies, note, ok);
}

async function storeSync(): Promise<Result> {
  const dir = tempDir('sync');
  const store = await openStore(dir, { flushDiskType: 'SYNC_FLUSH' });
  const latencies = new Float64Array(PUTS);
  let next = 0;
  let timeouts = 0;
  let ok = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, w) => {
      for (let p = next++; p < PUTS; p = next++) {
        const s = performance.now();
        const r = await store.putMessages(batchOf(w));
        latencies[p] = performance.now() - s;
        if (r.status === 'PUT_OK') ok += BATCH;
        else timeouts++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const commits = store.stats().flushTotal;
  const note =
    `${PRODUCERS} put loops, ${fmt(PUTS / Math.max(1, commits), 1)} puts per fdatasync, event loop busy ${fmt((100 * (cpu.user + cpu.system)) / 1e6 / seconds)}% (user+sys); ` +
    storeNote(store) +
    (timeouts ? `, ${timeouts} puts not PUT_OK (FLUSH_DISK_TIMEOUT: not counted as throughput)` : '');
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  return result(`store SYNC_FLUSH`, seconds, latencies, note, ok);
}

/** Writes RSS_GIB GiB through an ASYNC store, printing the RSS after each GiB: it must stay flat. */
async function rssGrowth(): Promise<void> {
  const dir = tempDir('rss');
  const store = await openStore(dir, { flushDiskType: 'ASYNC_FLUSH' });
  const putsPerGiB = Math.ceil((1024 * MB) / BATCH_BYTES);
  try {
    log(`\nRSS while writing ${RSS_GIB} GiB (ASYNC_FLUSH, ${fmt(SEGMENT / MB)} MiB segments):`);
    log(`  after open: ${fmt(process.memoryUsage.rss() / MB)} MiB`);
    for (let g = 1; g <= RSS_GIB; g++) {
      for (let p = 0; p < putsPerGiB; p++) {
        await store.putMessages(batchOf(p));
        if (p % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      log(`  after ${g} GiB: RSS ${fmt(process.memoryUsage.rss() / MB)} MiB (heap used ${fmt(process.memoryUsage().heapUsed / MB)} MiB)`);
    }
  } finally {
    await store.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function row(r: Result, baseline?: Result): string {
  const lat = r.p50Ms === undefined ? '' : `  p50 ${fmt(r.p50Ms, 3)} ms  p99 ${fmt(r.p99Ms!, 3)} ms`;
  const ratio = baseline ? `  = ${fmt(r.mbPerSec / baseline.mbPerSec, 2)} x ${baseline.name}` : '';
  return `${r.name.padEnd(20)} ${fmt(r.msgsPerSec).padStart(10)} msg/s ${fmt(r.mbPerSec).padStart(6)} MB/s  ${fmt(r.seconds, 2)} s${lat}${ratio}`;
}

log(
  `bench:store: ${fmt(MESSAGES)} messages of ${MSG_BYTES} B (${RECORD_BYTES} B records, ${fmt(BYTES / MB)} MiB), batches of ${BATCH}, ` +
    `${QUEUES} queues, ${fmt(SEGMENT / MB)} MiB segments (${PREALLOC ? 'preallocated' : 'sparse'}); ${os.cpus().length} cores, dir ${values.dir}`,
);
const results: Record<string, Result> = {};
const phase = async (key: string, run: () => Result | Promise<Result>, baseline?: string) => {
  settle();
  const r = await run();
  results[key] = r;
  log(row(r, baseline ? results[baseline] : undefined));
  if (r.note) log(`${''.padEnd(21)}${r.note}`);
};
if (ONLY.has('raw') || ONLY.has('async')) await phase('copyCrc', copyCrc);
if (ONLY.has('raw') || ONLY.has('async')) await phase('raw', () => rawWrite(false));
if (ONLY.has('raw') || ONLY.has('sync')) await phase('rawSync', () => rawWrite(true));
if (ONLY.has('async')) await phase('async', storeAsync, 'copyCrc');
if (ONLY.has('sync')) await phase('sync', storeSync, 'rawSync');
if (results.async && results.copyCrc) log(`ASYNC_FLUSH / copy+crc32 = ${fmt(results.async.mbPerSec / results.copyCrc.mbPerSec, 2)} (target >= 0.8)`);
if (results.async && results.raw) log(`ASYNC_FLUSH / raw = ${fmt(results.async.mbPerSec / results.raw.mbPerSec, 2)}`);
if (results.sync && results.rawSync) log(`SYNC_FLUSH / raw+fdatasync = ${fmt(results.sync.mbPerSec / results.rawSync.mbPerSec, 2)} (target >= 0.5)`);
log(`RSS after writing: ${fmt(process.memoryUsage.rss() / MB)} MiB`);
if (RSS_GIB > 0) {
  settle();
  await rssGrowth();
}
