/**
 * The behaviour every ObjectStore must have (the RouteTable contract's pattern): each
 * implementation calls objectStoreContract() from object-store.test.ts with a factory for a
 * fresh, empty backend (a temp folder, a moto bucket prefix), so the local store a developer
 * runs behaves as S3 does in AWS.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CirrusError, type ErrorCode } from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import type { ObjectStore } from './object-store';

export interface ObjectStoreBackend {
  /** A store under this broker prefix; every call on one backend shares its bucket or folder. */
  open(keyPrefix: string): ObjectStore;
  /**
   * Set when the store uploads in parts and counts S3 requests (S3ObjectStore): the part
   * size it was opened with, and its list page and delete batch sizes, to check the counts.
   */
  requests?: { partSizeBytes: number; listPageSize: number; deleteBatch: number };
  /**
   * Set, with the reason, for an emulator whose conditional put checks and then writes without
   * a lock (moto), so two puts at the same instant can both succeed. S3 and the local folder
   * (link()) are atomic; for them exactly one of two racing puts wins.
   */
  nonAtomicConditionalPut?: string;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
const BIG_FILE_BYTES = 20 * MiB;

export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<CirrusError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CirrusError);
  expect((err as CirrusError).code).toBe(code);
  return err as CirrusError;
}

/** `n` at once, so a thousand small requests do not run one by one. */
async function inParallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function objectStoreContract(name: string, newBackend: () => Promise<ObjectStoreBackend>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let tmp: string;
    let bigFile: string;
    let bigBytes: Buffer;
    let backend: ObjectStoreBackend;
    let store: ObjectStore;

    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-objstore-'));
      bigFile = path.join(tmp, 'segment');
      bigBytes = randomBytes(BIG_FILE_BYTES);
      fs.writeFileSync(bigFile, bigBytes);
    });
    afterAll(() => {
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    beforeEach(async () => {
      backend = await newBackend();
      store = backend.open('DefaultCluster/broker-a/');
    });
    afterEach(async () => {
      store.close();
      await backend.cleanup();
    });

    it('puts a Buffer and gets it back whole, with its size and zlib CRC32', async () => {
      const body = Buffer.from('hello, tier');
      const res = await store.putObject('commitlog/00000000000000000000', body);
      expect(res).toEqual({ size: body.length, crc32: zlib.crc32(body) });
      expect(await store.getObject('commitlog/00000000000000000000')).toEqual(body);
      expect(store.requestCounts).toMatchObject({ put: 1, uploadPart: 0, get: 1, errors: 0 });
    });

    it('never replaces an object: the same bytes again count as stored, other bytes are TIER_OBJECT_CONFLICT and the first stay', async () => {
      const first = await store.putObject('k', Buffer.from('first version'));
      // A retry (a crash between the upload and the manifest commit, a lost answer) puts the same bytes.
      expect(await store.putObject('k', Buffer.from('first version'))).toEqual(first);
      const err = await expectCode(store.putObject('k', Buffer.from('other version')), 'TIER_OBJECT_CONFLICT');
      expect(err.message).toContain('k');
      expect(err.retriable).toBe(false);
      // Same size, other bytes: the CRC tells them apart.
      await expectCode(store.putObject('k', Buffer.from('first versioN')), 'TIER_OBJECT_CONFLICT');
      await expectCode(store.putObject('k', { filePath: bigFile, start: 0, end: 13 }), 'TIER_OBJECT_CONFLICT');
      expect((await store.getObject('k')).toString()).toBe('first version');
      expect(await store.list('')).toEqual(['k']);
      // Deleted, the key takes new bytes.
      await store.deleteObjects(['k']);
      await store.putObject('k', Buffer.from('second'));
      expect((await store.getObject('k')).toString()).toBe('second');
    });

    it('never replaces a large object uploaded in parts: the same range again is stored, another is a conflict', async () => {
      const start = 1 * MiB;
      const end = start + 11 * MiB + 5;
      const key = 'commitlog/00000000002147483648';
      const first = await store.putObject(key, { filePath: bigFile, start, end });
      expect(await store.putObject(key, { filePath: bigFile, start, end })).toEqual(first);
      await expectCode(store.putObject(key, { filePath: bigFile, start: start + 1, end: end + 1 }), 'TIER_OBJECT_CONFLICT');
      const got = await store.getObject(key);
      expect(got.equals(bigBytes.subarray(start, end))).toBe(true);
      expect(await store.list('commitlog/')).toEqual([key]);
    });

    it('lets one of two concurrent puts of other bytes under one key win whole; the other is a conflict', async () => {
      const results = await Promise.allSettled([store.putObject('race', Buffer.from('aaaa')), store.putObject('race', Buffer.from('bbbb'))]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      for (const r of lost) expect((r.reason as CirrusError).code).toBe('TIER_OBJECT_CONFLICT');
      if (backend.nonAtomicConditionalPut) expect(won.length).toBeGreaterThanOrEqual(1);
      else expect(won).toHaveLength(1);
      expect(['aaaa', 'bbbb']).toContain((await store.getObject('race')).toString());
    });

    it('stores an empty object', async () => {
      expect(await store.putObject('empty', Buffer.alloc(0))).toEqual({ size: 0, crc32: 0 });
      expect(await store.getObject('empty')).toHaveLength(0);
      expect(await store.getRange('empty', 0, 10)).toHaveLength(0);
      expect(await store.list('')).toEqual(['empty']);
    });

    it('uploads a range of a large file (in parts where the store has them) and reads it back', async () => {
      const start = 3 * MiB + 7;
      const end = start + 12 * MiB + 13;
      const expected = bigBytes.subarray(start, end);
      const res = await store.putObject('commitlog/00000000001073741824', { filePath: bigFile, start, end });
      expect(res).toEqual({ size: end - start, crc32: zlib.crc32(expected) });
      const got = await store.getObject('commitlog/00000000001073741824');
      expect(got.length).toBe(expected.length);
      expect(got.equals(expected)).toBe(true);
      if (backend.requests) {
        // Create + Complete count as one put; 12 MiB in 5 MiB parts is 3 parts.
        expect(store.requestCounts.put).toBe(1);
        expect(store.requestCounts.uploadPart).toBe(Math.ceil((end - start) / backend.requests.partSizeBytes));
        expect(store.requestCounts.uploadPart).toBeGreaterThan(1);
      } else {
        expect(store.requestCounts).toMatchObject({ put: 1, uploadPart: 0 });
      }
    });

    it('reads a paced file range only as its pace allows: every byte asked for before it moves, the object whole', async () => {
      const start = 2 * MiB + 3;
      const end = start + 11 * MiB + 17;
      let asked = 0;
      let calls = 0;
      let release: (() => void) | undefined;
      const put = store.putObject('paced', {
        filePath: bigFile,
        start,
        end,
        pace: async (bytes) => {
          calls++;
          asked += bytes;
          // The first chunk waits until the test lets it go: nothing may be stored before.
          if (calls === 1) await new Promise<void>((r) => (release = r));
        },
      });
      await waitFor('the first chunk to ask its pace', 10_000, async () => release !== undefined, 5);
      // Other chunks may go ahead (parts upload in parallel), but not the object.
      expect(await store.list('')).toEqual([]);
      release!();
      expect(await put).toEqual({ size: end - start, crc32: zlib.crc32(bigBytes.subarray(start, end)) });
      expect(asked).toBe(end - start);
      expect(calls).toBeGreaterThan(1);
      expect((await store.getObject('paced')).equals(bigBytes.subarray(start, end))).toBe(true);
    });

    it('uploads a small file range and an empty one as single objects', async () => {
      const small = await store.putObject('small', { filePath: bigFile, start: 100, end: 1100 });
      expect(small).toEqual({ size: 1000, crc32: zlib.crc32(bigBytes.subarray(100, 1100)) });
      expect((await store.getObject('small')).equals(bigBytes.subarray(100, 1100))).toBe(true);
      expect(await store.putObject('none', { filePath: bigFile, start: 5, end: 5 })).toEqual({ size: 0, crc32: 0 });
      expect(await store.getObject('none')).toHaveLength(0);
      expect(store.requestCounts).toMatchObject({ put: 2, uploadPart: 0 });
    });

    it('refuses a file range past the end of its file, or of a missing file, and stores nothing', async () => {
      await expectCode(store.putObject('bad', { filePath: bigFile, start: BIG_FILE_BYTES - 10, end: BIG_FILE_BYTES + 1 }), 'INTERNAL');
      await expectCode(store.putObject('bad', { filePath: path.join(tmp, 'missing'), start: 0, end: 10 }), 'INTERNAL');
      await expectCode(store.putObject('bad', { filePath: bigFile, start: 10, end: 5 }), 'INVALID_PARAMETER');
      expect(await store.list('')).toEqual([]);
    });

    it('reads ranges anywhere, fewer bytes at the end and none past it', async () => {
      const body = randomBytes(10_000);
      await store.putObject('obj', body);
      expect(await store.getRange('obj', 0, 10)).toEqual(body.subarray(0, 10));
      expect(await store.getRange('obj', 4_321, 8_765)).toEqual(body.subarray(4_321, 8_765));
      expect(await store.getRange('obj', 0, 10_000)).toEqual(body);
      expect(await store.getRange('obj', 9_995, 20_000)).toEqual(body.subarray(9_995));
      expect(await store.getRange('obj', 9_999, 10_000)).toEqual(body.subarray(9_999));
      expect(await store.getRange('obj', 10_000, 10_010)).toHaveLength(0);
      expect(await store.getRange('obj', 50_000, 60_000)).toHaveLength(0);
      expect(await store.getRange('obj', 77, 77)).toHaveLength(0);
      await expectCode(store.getRange('obj', 10, 5), 'INVALID_PARAMETER');
      await expectCode(store.getRange('obj', -1, 5), 'INVALID_PARAMETER');
    });

    it('reads a range in the middle of a multi-part object', async () => {
      const start = 1 * MiB;
      const end = start + 11 * MiB;
      await store.putObject('seg', { filePath: bigFile, start, end });
      // Across the 5 MiB part boundaries of the upload.
      const got = await store.getRange('seg', 5 * MiB - 100, 10 * MiB + 100);
      expect(got.equals(bigBytes.subarray(start + 5 * MiB - 100, start + 10 * MiB + 100))).toBe(true);
    });

    it('answers TIER_OBJECT_NOT_FOUND for a missing key, and counts the failures', async () => {
      const e = await expectCode(store.getObject('commitlog/00000000000000000000'), 'TIER_OBJECT_NOT_FOUND');
      expect(e.retriable).toBe(false);
      await expectCode(store.getRange('commitlog/00000000000000000000', 0, 10), 'TIER_OBJECT_NOT_FOUND');
      await expectCode(store.getRange('nested/deeper/missing', 5, 10), 'TIER_OBJECT_NOT_FOUND');
      expect(store.requestCounts.errors).toBe(3);
    });

    it('refuses keys that are not plain relative paths', async () => {
      for (const key of ['', '/abs', 'a//b', '../escape', 'a/../b', './a', '.hidden', 'a/.tmp', 'a\\b', 'trailing/']) {
        await expectCode(store.putObject(key, Buffer.from('x')), 'INVALID_PARAMETER');
        await expectCode(store.getObject(key), 'INVALID_PARAMETER');
      }
      await expectCode(store.deleteObjects(['ok', '../x']), 'INVALID_PARAMETER');
    });

    it('lists keys under a prefix, sorted, relative to the broker prefix', async () => {
      const keys = [
        'commitlog/00000000002147483648',
        'commitlog/00000000000000000000',
        'commitlog/00000000001073741824',
        'consumequeue/00000000000000000000',
        'commitlogx',
        'wal/a/b/c',
      ];
      for (const k of keys) await store.putObject(k, Buffer.from(k));
      expect(await store.list('commitlog/')).toEqual(['commitlog/00000000000000000000', 'commitlog/00000000001073741824', 'commitlog/00000000002147483648']);
      expect(await store.list('commitlog')).toEqual([
        'commitlog/00000000000000000000',
        'commitlog/00000000001073741824',
        'commitlog/00000000002147483648',
        'commitlogx',
      ]);
      expect(await store.list('commitlog/000000000010')).toEqual(['commitlog/00000000001073741824']);
      expect(await store.list('wal/')).toEqual(['wal/a/b/c']);
      expect(await store.list('')).toEqual([...keys].sort());
      expect(await store.list('nothing/')).toEqual([]);
    });

    it('keeps brokers apart: a store sees only keys under its own prefix', async () => {
      const other = backend.open('DefaultCluster/broker-b/');
      const prefixOfA = backend.open('DefaultCluster/broker');
      try {
        await store.putObject('commitlog/00000000000000000000', Buffer.from('a'));
        await other.putObject('commitlog/00000000000000000000', Buffer.from('b'));
        await other.putObject('commitlog/00000000000000001000', Buffer.from('b2'));
        expect(await store.list('')).toEqual(['commitlog/00000000000000000000']);
        expect(await other.list('commitlog/')).toEqual(['commitlog/00000000000000000000', 'commitlog/00000000000000001000']);
        expect((await store.getObject('commitlog/00000000000000000000')).toString()).toBe('a');
        await other.deleteObjects(['commitlog/00000000000000000000']);
        expect((await store.getObject('commitlog/00000000000000000000')).toString()).toBe('a');
        // 'DefaultCluster/broker' is a folder of its own, not a string prefix of broker-a's keys.
        expect(await prefixOfA.list('')).toEqual([]);
      } finally {
        other.close();
        prefixOfA.close();
      }
    });

    it('deletes objects, missing keys and an empty list included', async () => {
      await store.putObject('a', Buffer.from('1'));
      await store.putObject('b/c', Buffer.from('2'));
      await store.putObject('d', Buffer.from('3'));
      // 'b' and 'd/x' are missing keys too, though a folder 'b' or a file 'd' may exist locally.
      await store.deleteObjects(['a', 'missing', 'b/c', 'b/missing', 'b', 'd/x']);
      await store.deleteObjects([]);
      expect(await store.list('')).toEqual(['d']);
      await expectCode(store.getObject('a'), 'TIER_OBJECT_NOT_FOUND');
      await store.deleteObjects(['a']);
    });

    it('lists and deletes more than 1000 keys (every page, every batch)', async () => {
      const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await inParallel([...keys].reverse(), 16, (k) => store.putObject(k, Buffer.from(k)));
      const before = { ...store.requestCounts };
      expect(await store.list('many/')).toEqual(keys);
      await store.deleteObjects(keys);
      expect(await store.list('')).toEqual([]);
      if (backend.requests) {
        const { listPageSize, deleteBatch } = backend.requests;
        expect(store.requestCounts.list - before.list).toBe(Math.ceil(keys.length / listPageSize) + 1);
        expect(store.requestCounts.delete - before.delete).toBe(Math.ceil(keys.length / deleteBatch));
      }
      expect(store.requestCounts.errors).toBe(0);
    }, 60_000);
  });
}
