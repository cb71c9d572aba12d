/**
 * The upload's pace: a segment moves no faster than uploadBytesPerSec, and the uploader gives
 * the event loop back between small steps, so sends are served while a segment uploads.
 * Only lower bounds on time are asserted (a busy machine is slower, never faster).
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DefaultMessageStore } from '../store/message-store';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import { TieredCommitLog } from './tiered-commit-log';
import { DEFAULT_TIER_UPLOAD_CONFIG, TierUploadService } from './tier-upload-service';
import { crc32InSteps, UploadPacer } from './upload-pacer';
import { waitFor } from '../../../infra/local/wait-for';

const MiB = 1024 * 1024;
let dir: string;
let store: DefaultMessageStore | undefined;
let up: TierUploadService | undefined;
beforeEach(() => {
  dir = tempDir('cirrusmq-tier-pace-');
});
afterEach(async () => {
  await up?.shutdown();
  await store?.shutdown();
  up = undefined;
  store = undefined;
  removeDir(dir);
});

describe('UploadPacer', () => {
  it('lets bytes through no faster than its rate, past a burst of 100 ms', async () => {
    const pacer = new UploadPacer(8 * MiB);
    const t0 = performance.now();
    for (let i = 0; i < 6; i++) await pacer.take(MiB);
    // 6 MiB at 8 MiB/s is 750 ms, less the 100 ms a caller may run ahead.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(640);
  });

  it('asks a rate function at every take: 0 lets bytes through at once, and a debt is not carried over', async () => {
    let rate = 0;
    const pacer = new UploadPacer(() => rate);
    const t0 = performance.now();
    for (let i = 0; i < 64; i++) await pacer.take(64 * MiB);
    // 4 GiB "moved" without a limit: turns only.
    expect(performance.now() - t0).toBeLessThan(2_000);
    rate = 8 * MiB;
    const t1 = performance.now();
    for (let i = 0; i < 6; i++) await pacer.take(MiB);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(640);
  });

  it('without a limit still gives the event loop a turn on every call', async () => {
    const pacer = new UploadPacer(0);
    let turns = 0;
    for (let i = 0; i < 20; i++) {
      setImmediate(() => turns++);
      await pacer.take(MiB);
      // What was queued before the call ran before it resolved.
      expect(turns).toBe(i + 1);
    }
  });
});

describe('crc32InSteps', () => {
  it("is zlib's CRC32, continued from a given one, and lets the event loop turn between megabytes", async () => {
    const buf = Buffer.alloc(5 * MiB + 3, 'crc-steps-');
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    try {
      expect(await crc32InSteps(buf)).toBe(zlib.crc32(buf));
      expect(await crc32InSteps(buf.subarray(MiB), zlib.crc32(buf.subarray(0, MiB)))).toBe(zlib.crc32(buf));
    } finally {
      clearInterval(ticking);
    }
    expect(turns).toBeGreaterThan(0);
    expect(await crc32InSteps(Buffer.alloc(0), 1234)).toBe(1234);
  });
});

describe('a paced segment upload', () => {
  /** A store with `sealed` full segments of 256 KiB, ~1 KB records. */
  async function sealedStore(sealed: number): Promise<DefaultMessageStore> {
    const s = new DefaultMessageStore(
      { storeDir: path.join(dir, 'store'), commitLogSegmentBytes: 256 * 1024, consumeQueueUnitsPerFile: 1024, flushIntervalMs: 50 },
      silentLogger,
    ).load();
    store = s;
    for (let i = 0; s.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull()).length < sealed; i++) {
      await s.putMessages(makeBatch('T', i % 4, [{ body: `m${i}-${'x'.repeat(900)}`, keys: [`k${i}`] }]));
    }
    return s;
  }

  function uploader(s: DefaultMessageStore, bytesPerSec: number): { up: TierUploadService; objects: LocalObjectStore } {
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
    const tiered = new TieredCommitLog(objects, { blockBytes: 64 * 1024, cacheBytes: 256 * 1024, readAheadBlocks: 1 });
    up = new TierUploadService(
      s.commitLog,
      objects,
      new LocalTierManifest(path.join(dir, 'manifest')),
      tiered,
      { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false, uploadBytesPerSec: bytesPerSec },
      {},
      silentLogger,
    );
    return { up, objects };
  }

  it('takes at least size / rate, serves the event loop all along, and uploads the segment whole', async () => {
    const s = await sealedStore(1);
    const sealed = s.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull());
    const bytes = sealed.reduce((a, f) => a + f.fileSize, 0);
    const rate = MiB / 4;
    const { up, objects } = uploader(s, rate);
    // Turns of the event loop during the pass: sends would be served in each.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setTimeout(tick, 1);
    };
    tick();
    const t0 = performance.now();
    await up.pass();
    const ms = performance.now() - t0;
    ticking = false;
    expect(up.tieredLog.list()).toHaveLength(sealed.length);
    // 256 KiB at 256 KiB/s: 1 s, less a burst of 100 ms (flat out it takes ~50 ms).
    expect(ms).toBeGreaterThanOrEqual((bytes / rate) * 1000 - sealed.length * 100);
    // A flat-out pass would hold the loop through whole segments; paced, 1 ms timers keep firing.
    expect(turns).toBeGreaterThan(ms / 20);
    for (const f of sealed) {
      const segment = up.tieredLog.list().find((t) => t.startOffset === f.fileFromOffset)!;
      const object = await objects.getObject(segment.commitLogKey);
      expect(object.length).toBe(f.fileSize);
      expect(zlib.crc32(object)).toBe(segment.crc32);
    }
  });

  it('uploads a backlog flat out, and paces the last segment once nothing waits behind it', async () => {
    const s = await sealedStore(3);
    const sealed = s.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull());
    // Paced all the way, each 256 KiB segment would take 4 s at this rate.
    const rate = 64 * 1024;
    const { up } = uploader(s, rate);
    const t0 = performance.now();
    const pass = up.pass();
    // The two with a segment behind them go flat out: well before the 8 s their pace would take.
    await waitFor('the backlog tiered', 3_000, async () => up!.tieredLog.list().length >= sealed.length - 1, 10);
    await pass;
    expect(up.tieredLog.list()).toHaveLength(sealed.length);
    // The last was paced: 4 s less the 100 ms burst.
    expect(performance.now() - t0).toBeGreaterThanOrEqual((sealed.at(-1)!.fileSize / rate) * 1000 - 100);
  });
});
