import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { AllocateMappedFileService, PREPARED_SUFFIX } from './allocate-mapped-file-service';
import { CommitLog } from './commit-log';
import { MappedFileQueue } from './mapped-file-queue';

const fx = useTempDir();

/** Bytes the file system has allocated to a file: a sparse file has (almost) none. */
const allocatedBytes = (file: string) => fs.statSync(file).blocks * 512;
const SEGMENT = 256 * 1024;

describe('AllocateMappedFileService (segment preallocation)', () => {
  it('zero-fills the next segment ahead, under a name load() ignores, and renames it into place', async () => {
    const alloc = new AllocateMappedFileService(fx.dir, SEGMENT, silentLogger);
    alloc.prepare(SEGMENT);
    await alloc.whenReady();
    expect(fs.readdirSync(fx.dir)).toEqual([`00000000000000262144${PREPARED_SUFFIX}`]);
    const file = alloc.take(SEGMENT);
    expect(fs.readdirSync(fx.dir)).toEqual(['00000000000000262144']);
    expect(file).toMatchObject({ fileFromOffset: SEGMENT, fileSize: SEGMENT, wrotePosition: 0 });
    expect(fs.statSync(file.fileName).size).toBe(SEGMENT);
    expect(allocatedBytes(file.fileName)).toBeGreaterThanOrEqual(SEGMENT); // written, not sparse
    expect(file.read(0, 0).length).toBe(0);
    expect(alloc.preallocatedTaken).toBe(1);
    file.close();
  });

  it('creates a sparse segment at once when the prepared one is not ready or is for another offset', async () => {
    const alloc = new AllocateMappedFileService(fx.dir, SEGMENT, silentLogger);
    alloc.prepare(0);
    const now = alloc.take(0); // zero-filling has only just started
    expect(now.fileSize).toBe(SEGMENT);
    expect(allocatedBytes(now.fileName)).toBeLessThan(SEGMENT);
    expect(alloc.sparseCreated).toBe(1);
    alloc.prepare(SEGMENT);
    await alloc.whenReady();
    const other = alloc.take(2 * SEGMENT);
    expect(alloc.sparseCreated).toBe(2);
    await alloc.shutdown();
    // The unused preparation is gone; the two segments stay.
    expect(fs.readdirSync(fx.dir).sort()).toEqual(['00000000000000000000', '00000000000000524288']);
    now.close();
    other.close();
  });

  it('deletes a preparation a crash left behind when the queue loads', () => {
    fs.writeFileSync(path.join(fx.dir, `00000000000000262144${PREPARED_SUFFIX}`), Buffer.alloc(1000));
    const q = new MappedFileQueue(fx.dir, SEGMENT, { preallocate: true });
    q.load();
    expect(fs.readdirSync(fx.dir)).toEqual([]);
    q.shutdown();
  });

  it('rolls a CommitLog over into preallocated segments, BLANK-filled as before', async () => {
    const log = new CommitLog(fx.dir, 64 * 1024, silentLogger, { preallocate: true });
    log.load();
    log.recover();
    log.prepareNextSegment();
    const alloc = log.mappedFileQueue.allocator!;
    const body = 'x'.repeat(1000);
    for (let i = 0; i < 200; i++) {
      await alloc.whenReady(); // a broker's disk keeps ahead of its writes
      log.putMessages(makeBatch('T', 0, [body]), i, 1);
    }
    const files = log.mappedFileQueue.mappedFiles;
    expect(files.length).toBeGreaterThan(2);
    expect(alloc.preallocatedTaken).toBe(files.length);
    expect(alloc.sparseCreated).toBe(0);
    let n = 0;
    log.scanFrom(0, () => n++);
    expect(n).toBe(200);
    await log.stopAllocating();
    log.shutdown();
    expect(fs.readdirSync(path.join(fx.dir, 'commitlog')).some((f) => f.endsWith(PREPARED_SUFFIX))).toBe(false);
  });
});
