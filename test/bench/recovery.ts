/**
 * npm run bench:recovery [-- --bytes 1g --runs 1 --flush-interval 500 --dir DIR --cold]
 *
 * Restart time after kill -9, against reading the same amount of log sequentially:
 *   1. a child process writes --bytes of 1 KB messages (8 queues, batches of 32) through a
 *      DefaultMessageStore with the broker's defaults (ASYNC_FLUSH, 1 GiB segments, a flush
 *      round and checkpoint every 500 ms) and is SIGKILLed the moment its last put returns;
 *   2. a fresh child process opens the store: load() = checkpoint read, CommitLog recovery,
 *      ConsumeQueue recovery, replay to the indexes, until it could serve. Timed inside the
 *      child (open + recovery), and as the whole process (node + tsx startup included);
 *   3. the parent reads the log files sequentially with fs.readSync and a 4 MiB buffer.
 * Prints the ratio restart / sequential read (target <= 2). A run fails unless the restarted
 * store holds exactly what was written: its CommitLog max offset is the writer's, and each
 * queue's max offset is the number of messages put in it (a kill -9 keeps the page cache).
 *
 * What recovery reads (message-store.ts load()): the 1 KiB checkpoint; the CommitLog from
 * the checkpoint's flushed offset to its end, verifying each record's CRC (what was written
 * since the last flush round), in the same walk that replays it to the ConsumeQueues and
 * the key index (from the lowest progress the checkpoint and the index report); and the
 * tail of the last file of each ConsumeQueue, to find its end. Not the whole GiB: the log before the checkpoint
 * was fdatasync'd before the checkpoint was written.
 *
 * By default both the recovery and the baseline read a log that was just written, from the
 * page cache, as a broker restarted after kill -9 on the same machine does. --cold drops the
 * page cache (root only: /proc/sys/vm/drop_caches, the whole machine's cache) before each
 * of the two, as after a reboot: both then read from the disk.
 */
import { spawn } from 'node:child_process';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import type { MessageStoreConfig } from '../../broker-node/src/store/message-store-types';
import { CHECKPOINT_FILE, readCheckpointFile } from '../../broker-node/src/store/store-checkpoint';
import { createLogger, decodeSendBatch, encodeSendBatch, prepareMessage, silentLogger } from '@cirrusmq/client/protocol';
import { fmt, median } from './stats';

const SELF = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    bytes: { type: 'string', default: '1g' },
    runs: { type: 'string', default: '1' },
    'flush-interval': { type: 'string', default: '500' },
    dir: { type: 'string', default: os.tmpdir() },
    cold: { type: 'boolean', default: false },
    child: { type: 'string' },
    store: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a byte count: ${s}`);
  return Math.round(Number(m[1]) * { '': 1, k: 1024, m: MB, g: 1024 * MB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']);
}

const storeConfig = (dir: string): MessageStoreConfig => ({
  storeDir: dir,
  commitLogSegmentBytes: 1024 * MB,
  consumeQueueUnitsPerFile: 300_000,
  flushIntervalMs: Number(values['flush-interval']),
});

/** Child 1: write, then tell the parent (which SIGKILLs at once) and wait. */
async function childWrite(dir: string, bytes: number): Promise<void> {
  const body = Buffer.alloc(1024, 'cirrusmq-recovery-benchmark-');
  const batches = Array.from({ length: 8 }, (_, q) =>
    decodeSendBatch(
      encodeSendBatch(
        'bench',
        q,
        Array.from({ length: 32 }, () => prepareMessage({ topic: 'bench', body, tags: 'TagA', keys: [`k${q}`] })),
      ),
      32,
    ),
  );
  const store = new DefaultMessageStore(storeConfig(dir), silentLogger).load();
  const batchBytes = batches[0]!.records.reduce((n, x) => n + x.shape.size, 0);
  let written = 0;
  const perQueue = new Array<number>(8).fill(0);
  for (let p = 0; written < bytes; p++) {
    const r = await store.putMessages(batches[p % 8]!);
    if (r.status !== 'PUT_OK') throw new Error(`put answered ${r.status}`);
    perQueue[p % 8]! += 32;
    written += batchBytes;
    // A broker's event loop turns between requests: the flush timer (and checkpoint) runs.
    if (p % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  const s = store.stats();
  process.stdout.write(JSON.stringify({ written: s.commitLogMaxOffset, checkpoint: s.checkpointPhysicOffset, perQueue }) + '\n');
  await new Promise(() => {}); // killed here
}

/** Child 2: open (recover) and report how long it took and what it did. */
function childOpen(dir: string): void {
  const lines: string[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(l));
  const checkpoint = readCheckpointFile(path.join(dir, CHECKPOINT_FILE));
  const t0 = performance.now();
  const store = new DefaultMessageStore(storeConfig(dir), logger).load();
  const openMs = performance.now() - t0;
  const reput = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'reput: indexed records from the commitlog');
  process.stdout.write(
    JSON.stringify({
      openMs,
      sinceProcessStartMs: performance.now(),
      recovery: store.commitLog.lastRecovery,
      reputFrom: reput?.fromOffset ?? null,
      reputRecords: reput?.records ?? 0,
      checkpoint,
      indexProgress: store.indexService.maxPhysicalOffset(),
      maxOffset: store.stats().commitLogMaxOffset,
      perQueue: Array.from({ length: 8 }, (_, q) => store.getMaxOffsetInQueue('bench', q)),
    }) + '\n',
  );
  // Exit without a clean shutdown: the next run starts from the same crashed state.
  process.exit(0);
}

function runChild(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ lines: string[]; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        onLine?.(line, () => child.kill('SIGKILL'));
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve({ lines, wallMs: performance.now() - t0 }));
  });
}

/** Reads the first `limit` bytes of the log (the part written), segment by segment. */
function readSequentially(dir: string, limit: number): { bytes: number; ms: number } {
  const buf = Buffer.allocUnsafe(4 * MB);
  const segDir = path.join(dir, 'commitlog');
  let bytes = 0;
  const t0 = performance.now();
  for (const name of fs.readdirSync(segDir).sort()) {
    const fd = fs.openSync(path.join(segDir, name), 'r');
    for (let pos = 0; bytes < limit; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, limit - bytes), pos);
      if (n === 0) break;
      pos += n;
      bytes += n;
    }
    fs.closeSync(fd);
  }
  return { bytes, ms: performance.now() - t0 };
}

function dropCaches(): void {
  try {
    execSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
  } catch (e) {
    throw new Error(`--cold needs root to write /proc/sys/vm/drop_caches: ${(e as Error).message}`);
  }
}

async function main(): Promise<void> {
  if (values.help) {
    console.log('npm run bench:recovery -- [--bytes 1g] [--runs 1] [--flush-interval 500] [--dir DIR] [--cold]');
    return;
  }
  if (values.child === 'write') return childWrite(values.store!, parseBytes(values.bytes!));
  if (values.child === 'open') return childOpen(values.store!);

  const bytes = parseBytes(values.bytes!);
  const runs = Number(values.runs);
  console.log(
    `bench:recovery: ${fmt(bytes / MB)} MiB of 1 KB messages, SIGKILL, restart; ${values.cold ? 'cold' : 'hot'} page cache; ` +
      `${runs} run(s); ${os.cpus().length} cores, dir ${values.dir}`,
  );
  const ratios: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const dir = fs.mkdtempSync(path.join(values.dir!, 'cirrusmq-bench-recovery-'));
    try {
      let written: { written: number; checkpoint: number; perQueue: number[] } | undefined;
      await runChild(['--child', 'write', '--store', dir, '--bytes', String(bytes), '--flush-interval', values['flush-interval']!], (line, kill) => {
        written = JSON.parse(line);
        kill();
      });
      if (!written) throw new Error('the writer died before it finished');
      execSync('sync'); // the same clean page-cache state for both measurements
      if (values.cold) dropCaches();
      const restart = await runChild(['--child', 'open', '--store', dir, '--flush-interval', values['flush-interval']!]);
      const r = JSON.parse(restart.lines.at(-1)!) as {
        openMs: number;
        sinceProcessStartMs: number;
        recovery: { fromOffset: number; endOffset: number };
        reputFrom: number | null;
        reputRecords: number;
        checkpoint: { physicOffset: number; logicsOffset: number; indexOffset: number } | undefined;
        maxOffset: number;
        perQueue: number[];
      };
      // A fast restart that lost data is no result: the recovered store must end where the writer did.
      if (r.maxOffset !== written.written) throw new Error(`run ${run}: recovered CommitLog max offset ${r.maxOffset}, the writer reached ${written.written}`);
      if (r.perQueue.join() !== written.perQueue.join())
        throw new Error(`run ${run}: recovered queue max offsets ${r.perQueue.join()}, written ${written.perQueue.join()}`);
      if (values.cold) dropCaches();
      const read = readSequentially(dir, written.written);
      const ratio = r.openMs / read.ms;
      ratios.push(ratio);
      console.log(
        `run ${run}: wrote ${fmt(written.written / MB)} MiB, killed with the checkpoint at ${fmt(written.checkpoint / MB, 1)} MiB\n` +
          `  restart: open + recovery ${fmt(r.openMs)} ms (process start to ready ${fmt(r.sinceProcessStartMs)} ms, wall ${fmt(restart.wallMs)} ms with exit)\n` +
          `    verified ${fmt((r.recovery.endOffset - r.recovery.fromOffset) / MB, 1)} MiB of CommitLog from ${fmt(r.recovery.fromOffset / MB, 1)} MiB; ` +
          `replayed ${fmt(r.reputRecords)} records from ${r.reputFrom === null ? '-' : fmt(r.reputFrom / MB, 1) + ' MiB'}` +
          ` (checkpoint: CommitLog ${fmt((r.checkpoint?.physicOffset ?? 0) / MB, 1)}, ConsumeQueues ${fmt((r.checkpoint?.logicsOffset ?? 0) / MB, 1)}, index ${fmt((r.checkpoint?.indexOffset ?? 0) / MB, 1)} MiB)\n` +
          `  sequential read of the log (${fmt(read.bytes / MB)} MiB, 4 MiB readSync): ${fmt(read.ms)} ms (${fmt(read.bytes / MB / (read.ms / 1000))} MB/s)\n` +
          `  recovered max offset = written (${fmt(r.maxOffset)} B; ${fmt(r.perQueue.reduce((a, b) => a + b, 0))} messages in 8 queues)\n` +
          `  restart / sequential read = ${fmt(ratio, 2)} (target <= 2)`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (runs > 1) console.log(`median restart / sequential read = ${fmt(median(ratios), 2)}`);
}

await main();
