import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BLANK_MAGIC, decodeRecords, Field, hasValidCrc, readRecordShape, recordSize, silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useTempDir } from '../testing/store-fixture';
import { CommitLog } from './commit-log';

const fx = useTempDir();
/** Logs open in the test: shut down after it (reopen closes them first). */
let open: CommitLog[] = [];
function track(log: CommitLog): void {
  open.push(log);
  fx.onCleanup(() => {
    log.shutdown();
    open = open.filter((l) => l !== log);
  });
}

function openLog(segmentBytes: number): CommitLog {
  const log = new CommitLog(fx.dir, segmentBytes, silentLogger);
  log.load();
  log.recover();
  track(log);
  return log;
}

/** Size of a fixture record on topic "T" with the UNIQ_KEY property only. */
const sizeOf = (body: string) => makeBatch('T', 0, [body]).records[0]!.shape.size;

function readAll(log: CommitLog): { bodies: string[]; queueOffsets: number[]; offsets: number[] } {
  const out = { bodies: [] as string[], queueOffsets: [] as number[], offsets: [] as number[] };
  log.scanFrom(0, (buf, pos, shape, phys) => {
    const [m] = decodeRecords(Buffer.from(buf.subarray(pos, pos + shape.size)));
    out.bodies.push(m!.body.toString());
    out.queueOffsets.push(m!.queueOffset);
    out.offsets.push(phys);
  });
  return out;
}

describe('CommitLog append and read', () => {
  it('round-trips a batch: stamped offsets, store time, valid CRC', () => {
    const log = openLog(1 << 20);
    const before = Date.now();
    const res = log.putMessages(makeBatch('TopicA', 3, [{ body: 'one', tags: 'TagA', keys: ['k1'] }, 'two']), 10, Date.now());
    expect(res.commitLogOffset).toBe(0);
    expect(res.count).toBe(2);
    const size0 = res.parts[0]!.recordsEnd === res.bytes ? recordSizeAt(res.buffer, 0) : -1;
    const rec = log.getMessage(0, size0)!;
    const shape = readRecordShape(rec, 0, rec.length)!;
    expect(hasValidCrc(rec, 0, shape.size)).toBe(true);
    const [m] = decodeRecords(rec);
    expect(m).toMatchObject({ topic: 'TopicA', queueId: 3, queueOffset: 10, commitLogOffset: 0, tags: 'TagA', keys: ['k1'] });
    expect(m!.body.toString()).toBe('one');
    expect(m!.storeTimestamp).toBeGreaterThanOrEqual(before);
    const second = log.getMessage(size0, res.bytes - size0)!;
    expect(decodeRecords(second)[0]).toMatchObject({ queueOffset: 11, commitLogOffset: size0 });
    expect(log.getMaxOffset()).toBe(res.bytes);
    expect(log.getMessage(res.bytes, 10)).toBeUndefined();
  });

  it('fills a segment tail with a BLANK record and continues in the next segment', () => {
    const s = sizeOf('x'.repeat(100));
    const segment = s * 2 + 40; // two records fit, a third does not
    const log = openLog(segment);
    log.putMessages(makeBatch('T', 0, ['x'.repeat(100), 'x'.repeat(100)]), 0, 1);
    const res = log.putMessages(makeBatch('T', 0, ['x'.repeat(100)]), 2, 1);
    expect(res.commitLogOffset).toBe(segment);
    const files = fs.readdirSync(path.join(fx.dir, 'commitlog'));
    expect(files).toEqual(['00000000000000000000', String(segment).padStart(20, '0')]);
    const first = log.mappedFileQueue.mappedFiles[0]!.read(2 * s, 8);
    expect(first.readInt32BE(0)).toBe(40);
    expect(first.readInt32BE(4)).toBe(BLANK_MAGIC);
    expect(readAll(log).queueOffsets).toEqual([0, 1, 2]);
  });

  it('keeps room for a BLANK: a record that would leave 1..7 bytes goes to the next segment', () => {
    const s = sizeOf('abc');
    const log = openLog(2 * s + 5);
    log.putMessages(makeBatch('T', 0, ['abc']), 0, 1);
    const res = log.putMessages(makeBatch('T', 0, ['abc']), 1, 1);
    expect(res.commitLogOffset).toBe(2 * s + 5);
    expect(log.mappedFileQueue.mappedFiles[0]!.read(s, 8).readInt32BE(0)).toBe(s + 5);
    // And one that fills a segment exactly stays in it.
    const exact = openLogAt('exact', s);
    exact.putMessages(makeBatch('T', 0, ['abc', 'abc']), 0, 1);
    expect(exact.mappedFileQueue.mappedFiles.map((f) => f.wrotePosition)).toEqual([s, s]);
  });

  it('splits a batch across segments, one write per part, offsets contiguous', () => {
    const s = sizeOf('m0');
    const segment = s * 3 + 20;
    const log = openLog(segment);
    const bodies = Array.from({ length: 8 }, (_, i) => `m${i}`);
    const res = log.putMessages(makeBatch('T', 1, bodies), 0, 1);
    expect(res.parts.length).toBe(3);
    expect(res.parts.map((p) => p.seal)).toEqual([true, true, false]);
    const all = readAll(log);
    expect(all.bodies).toEqual(bodies);
    expect(all.queueOffsets).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(all.offsets).toEqual([0, s, 2 * s, segment, segment + s, segment + 2 * s, 2 * segment, 2 * segment + s]);
    expect(log.getMaxOffset()).toBe(2 * segment + 2 * s);
  });

  it('refuses a record larger than a segment before writing anything', () => {
    const log = openLog(200);
    expect(() => log.putMessages(makeBatch('T', 0, ['ok', 'y'.repeat(300)]), 0, 1)).toThrow(/does not fit/);
    expect(log.getMaxOffset()).toBe(0);
  });

  it('grows its write buffer for a batch larger than it', () => {
    const log = openLog(8 << 20);
    const big = 'z'.repeat(300 * 1024);
    const res = log.putMessages(makeBatch('T', 0, [big, big, big, big]), 0, 1);
    expect(res.bytes).toBe(4 * recordSize(big.length, 1, res.bytes / 4 - recordSize(big.length, 1, 0)));
    expect(readAll(log).bodies).toEqual([big, big, big, big]);
  });
});

function recordSizeAt(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + Field.TOTALSIZE);
}

function openLogAt(sub: string, segmentBytes: number): CommitLog {
  const log = new CommitLog(path.join(fx.dir, sub), segmentBytes, silentLogger);
  log.load();
  log.recover();
  track(log);
  return log;
}

describe('CommitLog recovery', () => {
  function reopen(segmentBytes: number): CommitLog {
    for (const c of open.splice(0)) c.shutdown();
    return openLog(segmentBytes);
  }

  it('continues after the last record on reopen', () => {
    const log = openLog(4096);
    log.putMessages(makeBatch('T', 0, ['a', 'b']), 0, 1);
    const end = log.getMaxOffset();
    const again = reopen(4096);
    expect(again.getMaxOffset()).toBe(end);
    const res = again.putMessages(makeBatch('T', 0, ['c']), 2, 1);
    expect(res.commitLogOffset).toBe(end);
    expect(readAll(again).bodies).toEqual(['a', 'b', 'c']);
  });

  it('drops a torn last record and appends after the one before', () => {
    const log = openLog(4096);
    log.putMessages(makeBatch('T', 0, ['a', 'b', 'c']), 0, 1);
    const end = log.getMaxOffset();
    const cStart = end - sizeOf('c');
    const file = log.mappedFileQueue.mappedFiles[0]!.fileName;
    log.shutdown();
    // Zero the last 5 bytes, as a crash mid-write leaves them.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(5), 0, 5, end - 5);
    fs.closeSync(fd);
    const again = openLog(4096);
    expect(again.getMaxOffset()).toBe(cStart);
    expect(readAll(again).bodies).toEqual(['a', 'b']);
    expect(again.putMessages(makeBatch('T', 0, ['d']), 2, 1).commitLogOffset).toBe(cStart);
    expect(readAll(again).bodies).toEqual(['a', 'b', 'd']);
  });

  it('drops the last record when a byte of its body is garbled (CRC)', () => {
    const log = openLog(4096);
    log.putMessages(makeBatch('T', 0, ['a', 'bodybody']), 0, 1);
    const bStart = sizeOf('a');
    const file = log.mappedFileQueue.mappedFiles[0]!.fileName;
    log.shutdown();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, bStart + Field.BODY + 2);
    fs.closeSync(fd);
    const again = openLog(4096);
    expect(again.getMaxOffset()).toBe(bStart);
    expect(readAll(again).bodies).toEqual(['a']);
  });

  it('recovers into the previous segment when the last one is empty, and deletes later garbage', () => {
    const s = sizeOf('aa');
    const log = openLog(s * 2);
    log.putMessages(makeBatch('T', 0, ['aa', 'aa', 'aa']), 0, 1);
    // A torn first record in the second segment: the log ends at that segment's start.
    const second = log.mappedFileQueue.mappedFiles[1]!.fileName;
    log.shutdown();
    const fd = fs.openSync(second, 'r+');
    fs.writeSync(fd, Buffer.alloc(4), 0, 4, Field.CRC);
    fs.closeSync(fd);
    const again = openLog(s * 2);
    expect(again.getMaxOffset()).toBe(2 * s);
    expect(readAll(again).bodies).toEqual(['aa', 'aa']);
    expect(again.putMessages(makeBatch('T', 0, ['bb']), 2, 1).commitLogOffset).toBe(2 * s);
  });
});
