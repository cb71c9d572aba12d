/**
 * node --import tsx --conditions=cirrusmq-source test/bench/pop-replay.ts [--leases 1000000] [--queues 4]
 *
 * The replay of the POP state after a SIGKILL, measured at store level (the issue: "a million
 * pending leases replay after SIGKILL in seconds"). A child process stores `--leases` small
 * messages, leases every one (no ack), and kills itself with SIGKILL; a second child opens the
 * store and recovers the consume state (the journal replayed from the CommitLog), printing the
 * time and its RSS. Done twice: with no snapshot (the whole journal replayed) and with a
 * snapshot taken after the leases (the snapshot loaded, nothing after it).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '@cirrusmq/client/protocol';
import { createPopService } from '../../broker-node/src/consumer/create-pop-service';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { FakeNameServer } from '../../broker-node/src/testing/fake-nameserver';
import { makeBatch } from '../../broker-node/src/testing/fixtures';
import { InMemoryGroups } from '../../broker-node/src/testing/pop-fixture';
import { TopicConfigManager } from '../../broker-node/src/topic-config-manager';

const { values } = parseArgs({
  options: {
    leases: { type: 'string', default: '1000000' },
    queues: { type: 'string', default: '4' },
    role: { type: 'string' },
    dir: { type: 'string' },
    snapshot: { type: 'boolean', default: false },
  },
});
const LEASES = Number(values.leases);
const QUEUES = Number(values.queues);
const TOPIC = 'Replay';
const MiB = 1024 * 1024;

async function open(dir: string) {
  const ns = new FakeNameServer();
  ns.addTopic(TOPIC, QUEUES);
  const store = await new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 256 * MiB, consumeQueueUnitsPerFile: 300_000, flushIntervalMs: 500 },
    silentLogger,
  ).open();
  const t0 = performance.now();
  const pop = await createPopService({
    brokerName: 'broker-a',
    storeDir: dir,
    store,
    topicConfigManager: new TopicConfigManager('broker-a', ns),
    groups: new InMemoryGroups(),
    nameServer: ns,
    logger: silentLogger,
    snapshotIntervalMs: 24 * 3_600_000,
  });
  return { store, ...pop, openMs: performance.now() - t0 };
}

/** Child 1: messages, a lease on each, then SIGKILL (of itself: no shutdown path runs). */
async function fill(dir: string, snapshot: boolean): Promise<void> {
  const b = await open(dir);
  const body = Buffer.alloc(32);
  for (let q = 0; q < QUEUES; q++) {
    const n = Math.ceil(LEASES / QUEUES);
    for (let i = 0; i < n; i += 1000)
      await b.store.putMessages(
        makeBatch(
          TOPIC,
          q,
          Array.from({ length: Math.min(1000, n - i) }, () => ({ body })),
        ),
      );
  }
  const t0 = performance.now();
  let leased = 0;
  while (leased < LEASES) {
    const got = await b.popService.pop({ topic: TOPIC, group: 'g', max: 2_000, invisibleMs: 3_600_000, waitMs: 0 });
    if (got.messages.length === 0) break;
    leased += got.messages.length;
  }
  const popMs = performance.now() - t0;
  if (snapshot) await b.keeper.snapshot();
  process.stdout.write(`${JSON.stringify({ leased, popMs: Math.round(popMs), rssMiB: Math.round(process.memoryUsage().rss / MiB) })}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** Child 2: the restart; prints the recovery. */
async function replay(dir: string): Promise<void> {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const b = await open(dir);
  const p = await b.popService.progress(TOPIC, 'g');
  global.gc?.();
  const mem = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({
      openMs: Math.round(b.openMs),
      recovered: b.keeper.recovered,
      inFlight: p.queues.reduce((s, q) => s + q.inFlight, 0),
      rssMiB: Math.round(mem.rss / MiB),
      rssBeforeOpenMiB: Math.round(rss0 / MiB),
      heapUsedMiB: Math.round(mem.heapUsed / MiB),
    })}\n`,
  );
  process.exit(0);
}

function child(args: string[]): Promise<{ out: string; signal: NodeJS.Signals | null }> {
  const self = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ['--import', 'tsx', '--conditions=cirrusmq-source', '--expose-gc', '--max-old-space-size=4096', self, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => proc.on('exit', (_code, signal) => resolve({ out, signal })));
}

async function main(): Promise<void> {
  if (values.role === 'fill') return fill(values.dir!, values.snapshot);
  if (values.role === 'replay') return replay(values.dir!);
  for (const snapshot of [false, true]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-pop-replay-'));
    try {
      const common = ['--dir', dir, '--leases', String(LEASES), '--queues', String(QUEUES)];
      const f = await child(['--role', 'fill', ...common, ...(snapshot ? ['--snapshot'] : [])]);
      if (f.signal !== 'SIGKILL') throw new Error(`fill ended with ${f.signal}: ${f.out}`);
      const r = await child(['--role', 'replay', ...common]);
      console.log(`${snapshot ? 'snapshot + journal' : 'journal only'}: fill ${f.out.trim()} | restart ${r.out.trim()}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
