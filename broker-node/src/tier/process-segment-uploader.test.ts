/**
 * The uploader process (segment-upload-process.ts, started by ProcessSegmentUploader), as a
 * process: it uploads a sealed segment to the same objects as the inline uploader, every one
 * of its threads at the nice value given, its request counts land in the broker's store, a
 * kill during an upload fails that upload (and the next starts a new process), a conflict
 * keeps its code, and it exits when the broker closes it or dies.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CirrusError, silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../../infra/local/wait-for';
import { DefaultMessageStore } from '../store/message-store';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { LocalObjectStore } from './local-object-store';
import type { ObjectStoreSpec } from './object-store-spec';
import { ProcessSegmentUploader } from './process-segment-uploader';
import { type SealedSegment, segmentKey } from './segment-upload';
import { InlineSegmentUploader } from './segment-uploader';

vi.setConfig({ testTimeout: 60_000 });

const PREFIX = 'C/broker-a/';
let dir: string;
let store: DefaultMessageStore | undefined;
let uploader: ProcessSegmentUploader | undefined;
beforeEach(() => {
  dir = tempDir('cirrusmq-upload-process-');
});
afterEach(async () => {
  await uploader?.close();
  await store?.shutdown();
  uploader = undefined;
  store = undefined;
  removeDir(dir);
});

/** One sealed 256 KiB segment of ~1,500 records over 4 queues. */
async function sealedSegment(): Promise<SealedSegment> {
  const s = new DefaultMessageStore(
    { storeDir: path.join(dir, 'store'), commitLogSegmentBytes: 256 * 1024, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 50 },
    silentLogger,
  ).load();
  store = s;
  for (let i = 0; !s.commitLog.mappedFileQueue.mappedFiles[0]?.isFull(); i++) {
    await s.putMessages(makeBatch('T', i % 4, [{ body: `m${i}-${'x'.repeat(100)}`, keys: [`k${i}`] }]));
  }
  const f = s.commitLog.mappedFileQueue.mappedFiles[0]!;
  return { fileName: f.fileName, fileFromOffset: f.fileFromOffset, fileSize: f.fileSize };
}

function processUploader(tierDir: string, nice = 10): ProcessSegmentUploader {
  const spec: ObjectStoreSpec = { kind: 'local', dir: tierDir, prefix: PREFIX };
  uploader = new ProcessSegmentUploader(spec, nice, new LocalObjectStore(tierDir, PREFIX), silentLogger);
  return uploader;
}

const objectBytes = (tierDir: string) => {
  const base = path.join(tierDir, 'C', 'broker-a');
  return Object.fromEntries(
    ['commitlog', 'consumequeue', 'index'].map((f) => [f, fs.readdirSync(path.join(base, f)).map((n) => fs.readFileSync(path.join(base, f, n)))]),
  );
};

/** The nice value of every thread of `pid` (/proc/PID/task/TID/stat, field 19). */
function threadNices(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ProcessSegmentUploader', () => {
  it('uploads the objects the inline uploader does, in a process whose every thread runs at the nice given', async () => {
    const segment = await sealedSegment();
    const inlineStore = new LocalObjectStore(path.join(dir, 'tier-inline'), PREFIX);
    const inline = await new InlineSegmentUploader(inlineStore).upload(segment, path.join(dir, 'spill-inline'), 0);
    const up = processUploader(path.join(dir, 'tier-process'), 13);
    up.start();
    const result = await up.upload(segment, path.join(dir, 'spill-process'), 0);
    expect(result).toEqual(inline);
    expect(result.scan.records).toBeGreaterThan(1000);
    expect(objectBytes(path.join(dir, 'tier-process'))).toEqual(objectBytes(path.join(dir, 'tier-inline')));
    const nices = threadNices(up.pid!);
    expect(nices.length).toBeGreaterThan(1);
    expect(new Set(nices)).toEqual(new Set([13]));
  });

  it("adds the process's requests to the broker's store's counts", async () => {
    const segment = await sealedSegment();
    const tierDir = path.join(dir, 'tier');
    const up = processUploader(tierDir);
    const counts = (up as unknown as { objectStore: LocalObjectStore }).objectStore.requestCounts;
    await up.upload(segment, path.join(dir, 'spill'), 0);
    // The segment, its ConsumeQueue extract and its index extract.
    expect(counts.put).toBe(3);
  });

  it('fails the upload in flight when the process dies, and starts a new process for the next', async () => {
    const segment = await sealedSegment();
    const up = processUploader(path.join(dir, 'tier'));
    // 1 KiB/s: the upload is still running when the process is killed.
    const slow = up.upload(segment, path.join(dir, 'spill'), 1024);
    await waitFor('the uploader process', 20_000, async () => up.pid !== undefined, 10);
    const first = up.pid!;
    process.kill(first, 'SIGKILL');
    await expect(slow).rejects.toMatchObject({ code: 'TIER_UNAVAILABLE' });
    const result = await up.upload(segment, path.join(dir, 'spill'), 0);
    expect(result.scan.records).toBeGreaterThan(1000);
    expect(up.pid).not.toBe(first);
  });

  it('keeps the code of a CirrusError the process met (a conflict stops uploads for good)', async () => {
    const segment = await sealedSegment();
    const tierDir = path.join(dir, 'tier');
    await new LocalObjectStore(tierDir, PREFIX).putObject(segmentKey(segment.fileFromOffset), Buffer.from('other bytes'));
    const up = processUploader(tierDir);
    const failed = await up.upload(segment, path.join(dir, 'spill'), 0).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CirrusError);
    expect(failed).toMatchObject({ code: 'TIER_OBJECT_CONFLICT' });
  });

  it('ends the process on close', async () => {
    const up = processUploader(path.join(dir, 'tier'));
    up.start();
    const pid = up.pid!;
    await waitFor('the process to run', 20_000, async () => alive(pid), 10);
    await up.close();
    expect(alive(pid)).toBe(false);
  });

  it('ends the process when the broker dies (SIGKILL)', async () => {
    const parent = fileURLToPath(new URL('../testing/uploader-parent.ts', import.meta.url));
    const broker = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', parent, path.join(dir, 'tier')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    broker.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the uploader pid', 30_000, async () => /^\d+\n/.test(out), 20);
    const child = Number(out.trim());
    await waitFor('the uploader process to run', 20_000, async () => alive(child), 10);
    broker.kill('SIGKILL');
    await waitFor('the uploader process to exit after its broker', 20_000, async () => !alive(child), 20);
  });
});
