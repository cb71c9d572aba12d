/**
 * The uploader's loop (a ServiceThread): a pass at start, the backoff as the next wait after a
 * failure (wakeups before it is over run nothing), and a shutdown that waits for the upload in
 * flight and starts no further one. tier-upload-restore.test.ts tests the passes themselves.
 */
import path from 'node:path';
import { silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../infra/local/wait-for';
import { DefaultMessageStore } from '../store/message-store';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import { TieredCommitLog } from './tiered-commit-log';
import type { TieredSegment, TierManifest } from './tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG, type TierUploadConfig, TierUploadService } from './tier-upload-service';

let dir: string;
let store: DefaultMessageStore | undefined;
let up: TierUploadService | undefined;
beforeEach(() => {
  dir = tempDir('cirrusmq-tier-loop-');
});
afterEach(async () => {
  await up?.shutdown();
  await store?.shutdown();
  up = undefined;
  store = undefined;
  removeDir(dir);
});

/** A manifest that counts commits, can fail them, and can hold one open. */
class ScriptedManifest implements TierManifest {
  commits = 0;
  failCommits = 0;
  hold: Promise<void> | undefined;
  readonly inner = new LocalTierManifest(path.join(dir, 'manifest'));
  list() {
    return this.inner.list();
  }
  async commit(s: TieredSegment) {
    this.commits++;
    if (this.failCommits > 0) {
      this.failCommits--;
      throw new Error('injected manifest outage');
    }
    await this.hold;
    return this.inner.commit(s);
  }
  remove(o: number) {
    return this.inner.remove(o);
  }
}

/** A store with `sealed` full 4 KiB segments. */
async function storeWithSealedSegments(sealed: number): Promise<DefaultMessageStore> {
  const s = new DefaultMessageStore(
    { storeDir: path.join(dir, 'store'), commitLogSegmentBytes: 4096, consumeQueueUnitsPerFile: 16, flushIntervalMs: 50 },
    silentLogger,
  ).load();
  store = s;
  for (let i = 0; s.commitLog.mappedFileQueue.mappedFiles.filter((f) => f.isFull()).length < sealed; i++) {
    await s.putMessages(makeBatch('T', 0, [{ body: `m${i}-${'y'.repeat(150)}` }]));
  }
  return s;
}

function uploader(s: DefaultMessageStore, manifest: TierManifest, config: Partial<TierUploadConfig>, now?: () => number): TierUploadService {
  const objects = new LocalObjectStore(path.join(dir, 'tier'), 'C/broker-a/');
  const tiered = new TieredCommitLog(objects, { blockBytes: 1024, cacheBytes: 16 * 1024, readAheadBlocks: 1 });
  // An hour's check interval: every pass below is the start's, a backoff's or a wakeup's.
  up = new TierUploadService(
    s.commitLog,
    objects,
    manifest,
    tiered,
    { ...DEFAULT_TIER_UPLOAD_CONFIG, checkIntervalMs: 3_600_000, ...config },
    { now },
    silentLogger,
  );
  return up;
}

const tieredCount = (u: TierUploadService) => u.tieredLog.list().length;

describe('TierUploadService loop', () => {
  it('uploads at start without waiting for the interval, and retries by itself once the backoff is over', async () => {
    const s = await storeWithSealedSegments(2);
    const manifest = new ScriptedManifest();
    manifest.failCommits = 1;
    const u = uploader(s, manifest, { retryInitialDelayMs: 50, retryMaxDelayMs: 50 });
    u.start();
    await waitFor('the first pass to fail', 10_000, async () => u.stats.uploadFailures === 1, 10);
    // No wakeup and an hour's interval: only the backoff's end can run the next pass.
    await waitFor('the retry after the backoff', 10_000, async () => tieredCount(u) === 2, 10);
    expect(u.stats.failingFor).toBe(0);
  });

  it('runs no pass on a wakeup during the backoff, and one on a wakeup after it', async () => {
    const s = await storeWithSealedSegments(1);
    const manifest = new ScriptedManifest();
    manifest.failCommits = 100;
    let clock = 1_000_000;
    const u = uploader(s, manifest, { retryInitialDelayMs: 3_600_000, retryMaxDelayMs: 3_600_000 }, () => clock);
    u.start();
    await waitFor('the first pass to fail', 10_000, async () => u.stats.uploadFailures === 1, 10);
    for (let i = 0; i < 5; i++) {
      u.wakeup();
      // The loop handles each wakeup (checks the backoff, waits again) before the next.
      await new Promise((r) => setImmediate(r));
    }
    // Passes never overlap: this one runs after any pass a wakeup started, so it sees its commit.
    await u.pass();
    expect(manifest.commits).toBe(2);
    manifest.failCommits = 0;
    clock += 3_600_000;
    u.wakeup();
    await waitFor('the pass after the backoff', 10_000, async () => tieredCount(u) === 1, 10);
    expect(manifest.commits).toBe(3);
  });

  it('shutdown waits for the upload in flight and starts no further one', async () => {
    const s = await storeWithSealedSegments(3);
    const manifest = new ScriptedManifest();
    let release!: () => void;
    manifest.hold = new Promise((r) => (release = r));
    const u = uploader(s, manifest, {});
    u.start();
    await waitFor('the first commit to be in flight', 10_000, async () => manifest.commits === 1, 10);
    let stopped = false;
    const stopping = u.shutdown().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(tieredCount(u)).toBe(1);
    expect(manifest.commits).toBe(1);
  });
});
