import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { removeDir, tempDir } from '../../testing/fixtures';
import { LocalObjectStore } from '../local-object-store';
import type { ObjectBody, ObjectStore, PutObjectResult } from '../object-store';
import { S3WalService, type S3WalConfig, type WalAppendPart } from './s3-wal-service';
import { PART_HEADER_BYTES, decodeWalChunk, parseWalChunkKey, walChunkKey, writePartHeader, writeTrailer } from './wal-chunk';
import { contiguousRunFrom, deleteWalChunksBefore, listWalChunks, replayWalFrom } from './wal-chunks';

let dir: string;
let store: LocalObjectStore;
const services: S3WalService[] = [];
beforeEach(() => {
  dir = tempDir('cirrusmq-wal-');
  store = new LocalObjectStore(dir, 'c/b/');
});
afterEach(async () => {
  for (const s of services.splice(0)) s.abandon();
  removeDir(dir);
});

/** An ObjectStore whose puts can be held back or made to fail: the S3 outage of a test. */
class FlakyStore implements ObjectStore {
  failPuts = 0;
  held: (() => void)[] | undefined;
  constructor(private readonly inner: ObjectStore) {}
  get requestCounts() {
    return this.inner.requestCounts;
  }
  get location() {
    return this.inner.location;
  }
  async putObject(key: string, body: ObjectBody): Promise<PutObjectResult> {
    if (this.held) await new Promise<void>((r) => this.held!.push(r));
    if (this.failPuts > 0) {
      this.failPuts--;
      throw new Error('injected outage');
    }
    return this.inner.putObject(key, body);
  }
  getRange(key: string, start: number, end: number) {
    return this.inner.getRange(key, start, end);
  }
  getObject(key: string) {
    return this.inner.getObject(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  deleteObjects(keys: readonly string[]) {
    return this.inner.deleteObjects(keys);
  }
  close() {}
}

function wal(s: ObjectStore, overrides: Partial<S3WalConfig> = {}, start = 0): S3WalService {
  const w = new S3WalService(
    s,
    { windowMs: 20, maxChunkBytes: 64 * 1024, maxInFlight: 2, ackTimeoutMs: 5_000, retryInitialDelayMs: 10, retryMaxDelayMs: 20, ...overrides },
    silentLogger,
  );
  w.start(start);
  services.push(w);
  return w;
}

/** An append of `length` bytes of `fill` at `offset`, as the CommitLog reports it. */
function appendOf(offset: number, length: number, fill: number, endOffset = offset + length): [Buffer, WalAppendPart[]] {
  return [Buffer.alloc(length, fill), [{ physicalOffset: offset, bufStart: 0, bufEnd: length, endOffset }]];
}

describe('write-ahead chunk format', () => {
  it('round-trips parts and refuses a damaged chunk', () => {
    const buf = Buffer.alloc(1024);
    writePartHeader(buf, 0, 100, 3, 103);
    buf.write('abc', PART_HEADER_BYTES);
    writePartHeader(buf, PART_HEADER_BYTES + 3, 103, 0, 4096);
    const len = writeTrailer(buf, 2 * PART_HEADER_BYTES + 3, 2);
    const parts = decodeWalChunk(buf.subarray(0, len));
    expect(parts.map((p) => [p.physicalOffset, p.bytes.toString(), p.endOffset])).toEqual([
      [100, 'abc', 103],
      [103, '', 4096],
    ]);
    const garbled = Buffer.from(buf.subarray(0, len));
    garbled[PART_HEADER_BYTES + 1] ^= 0xff;
    expect(() => decodeWalChunk(garbled)).toThrow(/CRC/);
    expect(() => decodeWalChunk(buf.subarray(0, len - 1))).toThrow();
  });

  it('names chunks by their range, sorted by offset', () => {
    expect(walChunkKey(5, 2 ** 40)).toBe('wal/00000000000000000005-00000001099511627776');
    expect(parseWalChunkKey(walChunkKey(5, 2 ** 40))).toEqual({ start: 5, end: 2 ** 40 });
    expect(parseWalChunkKey('wal/x')).toBeUndefined();
    expect(parseWalChunkKey(walChunkKey(9, 9))).toBeUndefined();
  });

  it('finds the contiguous run from an offset and stops at a hole', () => {
    const refs = [
      { key: 'a', start: 0, end: 10 },
      { key: 'b', start: 10, end: 20 },
      { key: 'c', start: 20, end: 30 },
      { key: 'e', start: 40, end: 50 },
    ];
    expect(contiguousRunFrom(refs, 15).map((r) => r.key)).toEqual(['b', 'c']);
    expect(contiguousRunFrom(refs, 30)).toEqual([]);
    expect(contiguousRunFrom(refs, 0).map((r) => r.key)).toEqual(['a', 'b', 'c']);
  });
});

describe('S3WalService', () => {
  it('acknowledges an append once its chunk is stored, and groups appends in a window into one chunk', async () => {
    const w = wal(store);
    const acks = [w.append(...appendOf(0, 100, 1)), w.append(...appendOf(100, 50, 2)), w.append(...appendOf(150, 10, 3, 4096))];
    expect(await Promise.all(acks)).toEqual(['PUT_OK', 'PUT_OK', 'PUT_OK']);
    expect(w.durableEnd).toBe(4096);
    const chunks = await listWalChunks(store);
    expect(chunks.map((c) => [c.start, c.end])).toEqual([[0, 4096]]);
    const replayed: [number, number, number][] = [];
    const end = await replayWalFrom(store, chunks, 0, (parts) => parts.forEach((p) => replayed.push([p.physicalOffset, p.bytes.length, p.endOffset])));
    expect(end).toBe(4096);
    expect(replayed).toEqual([
      [0, 100, 100],
      [100, 50, 150],
      [150, 10, 4096],
    ]);
  });

  it('cuts a chunk early at maxChunkBytes', async () => {
    const w = wal(store, { windowMs: 60_000, maxChunkBytes: 1000 });
    expect(await w.append(...appendOf(0, 2000, 7))).toBe('PUT_OK');
    expect((await listWalChunks(store)).length).toBe(1);
  });

  it('acknowledges in log order although a later chunk is stored first, and retries a failed upload', async () => {
    const flaky = new FlakyStore(store);
    const w = wal(flaky, { windowMs: 1, maxChunkBytes: 100 });
    flaky.failPuts = 2;
    const order: number[] = [];
    const a = w.append(...appendOf(0, 150, 1)).then((s) => (order.push(1), s));
    const b = w.append(...appendOf(150, 150, 2)).then((s) => (order.push(2), s));
    expect(await Promise.all([a, b])).toEqual(['PUT_OK', 'PUT_OK']);
    expect(order).toEqual([1, 2]);
    expect(w.stats.uploadFailures).toBeGreaterThanOrEqual(1);
    expect((await listWalChunks(store)).map((c) => [c.start, c.end])).toEqual([
      [0, 150],
      [150, 300],
    ]);
  });

  it('answers FLUSH_S3_TIMEOUT when the store is down past ackTimeoutMs, and stores the chunk once it is back', async () => {
    const flaky = new FlakyStore(store);
    flaky.failPuts = 1_000_000;
    const w = wal(flaky, { windowMs: 1, ackTimeoutMs: 100 });
    expect(await w.append(...appendOf(0, 10, 1))).toBe('FLUSH_S3_TIMEOUT');
    expect(w.stats.ackTimeouts).toBe(1);
    flaky.failPuts = 0;
    await expect.poll(() => w.durableEnd, { timeout: 20_000 }).toBe(10); // its retry backoff runs on real timers: generous on a busy machine
    expect((await listWalChunks(store)).length).toBe(1);
  });

  it('deletes the chunks a tiered segment covers', async () => {
    const w = wal(store, { windowMs: 1, maxChunkBytes: 10 });
    await w.append(...appendOf(0, 20, 1));
    await w.append(...appendOf(20, 20, 1, 4096));
    await w.append(...appendOf(4096, 20, 1));
    expect(await deleteWalChunksBefore(store, 4096, silentLogger)).toBe(2);
    expect((await listWalChunks(store)).map((c) => c.start)).toEqual([4096]);
  });

  it('replays from inside a part: only the bytes past the offset', async () => {
    const w = wal(store, { windowMs: 1 });
    await w.append(Buffer.from('0123456789'), [{ physicalOffset: 0, bufStart: 0, bufEnd: 10, endOffset: 10 }]);
    const got: string[] = [];
    await replayWalFrom(store, await listWalChunks(store), 4, (parts) => parts.forEach((p) => got.push(`${p.physicalOffset}:${p.bytes}`)));
    expect(got).toEqual(['4:456789']);
  });
});
