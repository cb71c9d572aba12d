/**
 * The ObjectStore contract for both stores: LocalObjectStore in a temp folder, and
 * S3ObjectStore on moto_server (skipped when moto is not installed; CI fails instead).
 * Then what only one of them has: S3 checksums, location, outages; local temp files.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../../test/support/free-port';
import { motoClientConfig } from '../../../test/support/moto';
import { LocalObjectStore } from './local-object-store';
import { expectCode, objectStoreContract } from './object-store.contract';
import { createS3Client, S3ObjectStore } from './s3-object-store';

const endpoint = inject('motoEndpoint');
/** Unique per run, so runs sharing one moto_server (MOTO_ENDPOINT) never collide. */
const runId = `${process.pid}-${Date.now().toString(36)}`;
const MiB = 1024 * 1024;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-tier-'));
}

objectStoreContract('local folder', async () => {
  const root = tempDir();
  return {
    open: (prefix) => new LocalObjectStore(root, prefix),
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});

describe('LocalObjectStore', () => {
  it('keeps objects as files under rootDir/keyPrefix, leaves no temp file, and lists none', async () => {
    const root = tempDir();
    try {
      const store = new LocalObjectStore(root, 'c1/broker-a');
      expect(store.location).toBe(path.join(root, 'c1', 'broker-a'));
      await store.putObject('commitlog/00000000000000000000', Buffer.from('abc'));
      const dir = path.join(root, 'c1', 'broker-a', 'commitlog');
      expect(fs.readdirSync(dir)).toEqual(['00000000000000000000']);
      // What a crash in the middle of a put leaves behind.
      fs.writeFileSync(path.join(dir, '.00000000000000001000.tmp-1-abcd'), 'half');
      expect(await store.list('')).toEqual(['commitlog/00000000000000000000']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('answers TIER_UNAVAILABLE when its folder cannot be written', async () => {
    const root = tempDir();
    try {
      fs.writeFileSync(path.join(root, 'c1'), 'a file where the prefix folder should be');
      const store = new LocalObjectStore(root, 'c1/broker-a');
      const e = await expectCode(store.putObject('k', Buffer.from('x')), 'TIER_UNAVAILABLE');
      expect(e.cause).toBeDefined();
      expect(store.requestCounts.errors).toBe(1);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

if (!endpoint) {
  describe.skip('ObjectStore contract: S3 (skipped: moto_server is not installed)', () => {
    it('needs moto_server', () => {});
  });
} else {
  const bucket = `cirrusmq-tier-${runId}`;
  const admin = createS3Client({ ...motoClientConfig(endpoint) });
  const s3Client = () => createS3Client({ ...motoClientConfig(endpoint) });
  let backendCount = 0;

  beforeAll(async () => {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => {
    await emptyBucket(admin, bucket);
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
  });

  // S3's minimum part size, so the 12 MiB range of the contract goes up in 3 parts.
  const partSizeBytes = 5 * MiB;
  objectStoreContract('S3 (moto)', async () => {
    // A root prefix per test: one bucket per run, and every test starts empty.
    const root = `t${++backendCount}/`;
    return {
      open: (prefix) => new S3ObjectStore({ client: s3Client(), bucket, keyPrefix: root + prefix, partSizeBytes }),
      requests: { partSizeBytes, listPageSize: 1000, deleteBatch: 1000 },
      // moto 5 (s3/responses.py put_object) tests If-None-Match and then stores, unlocked, on a threaded server.
      nonAtomicConditionalPut: 'moto checks If-None-Match and writes without a lock',
      cleanup: async () => {},
    };
  });

  describe('S3ObjectStore on moto', () => {
    it('names its location s3://bucket/prefix/', () => {
      const store = new S3ObjectStore({ client: s3Client(), bucket, keyPrefix: 'c1/broker-a' });
      expect(store.location).toBe(`s3://${bucket}/c1/broker-a/`);
      store.close();
    });

    it('sends S3 CRC32 checksums: S3 stores the same CRC32 the put returns', async () => {
      const store = new S3ObjectStore({ client: s3Client(), bucket, keyPrefix: 'checksums' });
      const body = Buffer.from('checksummed by S3 too');
      const { crc32 } = await store.putObject('small', body);
      const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: 'checksums/small', ChecksumMode: 'ENABLED' }));
      expect(Buffer.from(head.ChecksumCRC32 ?? '', 'base64').readUInt32BE(0)).toBe(zlib.crc32(body));
      expect(crc32).toBe(zlib.crc32(body));
      store.close();
    });

    it('pages list() by listPageSize', async () => {
      const store = new S3ObjectStore({ client: s3Client(), bucket, keyPrefix: 'paged', listPageSize: 2 });
      for (const k of ['e', 'd', 'c', 'b', 'a']) await store.putObject(k, Buffer.from(k));
      expect(await store.list('')).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(store.requestCounts.list).toBe(3);
      store.close();
    });

    it('treats a missing bucket as TIER_UNAVAILABLE, not as a missing object', async () => {
      const store = new S3ObjectStore({ client: s3Client(), bucket: `${bucket}-missing`, keyPrefix: 'x' });
      await expectCode(store.getObject('k'), 'TIER_UNAVAILABLE');
      store.close();
    });

    it('aborts a multipart upload whose source fails midway: no object, no upload left open', async () => {
      const store = new S3ObjectStore({ client: s3Client(), bucket, keyPrefix: 'aborted', partSizeBytes: 5 * MiB, queueSize: 1 });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-s3-abort-'));
      const file = path.join(dir, 'segment');
      fs.writeFileSync(file, Buffer.alloc(16 * MiB, 7));
      let calls = 0;
      try {
        // The file shrinks after the first part went up (a damaged disk, a bug): the upload must not complete.
        const put = store.putObject('commitlog/00000000000000000000', {
          filePath: file,
          start: 0,
          end: 16 * MiB,
          pace: async () => {
            if (++calls === 2) fs.truncateSync(file, 6 * MiB);
          },
        });
        await expectCode(put, 'INTERNAL');
        expect(calls).toBeGreaterThanOrEqual(2);
        expect(await store.list('')).toEqual([]);
        const open = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'aborted/' }));
        expect(open.Uploads ?? []).toEqual([]);
      } finally {
        store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a part size below S3 minimum', () => {
      const client = s3Client();
      expect(() => new S3ObjectStore({ client, bucket, keyPrefix: 'x', partSizeBytes: MiB })).toThrow(RangeError);
      client.destroy();
    });
  });
}

describe('S3ObjectStore against something that is not S3', () => {
  it('does not take a bare 404 (a proxy, a wrong endpoint) for a missing object', async () => {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const store = new S3ObjectStore({ client: createS3Client({ ...motoClientConfig(`http://127.0.0.1:${port}`) }), bucket: 'cirrusmq-x', keyPrefix: 'p' });
    try {
      await expectCode(store.getObject('k'), 'TIER_UNAVAILABLE');
      await expectCode(store.getRange('k', 0, 10), 'TIER_UNAVAILABLE');
    } finally {
      store.close();
      server.close();
    }
  });
});

describe('S3ObjectStore when S3 is down', () => {
  it('rejects every call with TIER_UNAVAILABLE within seconds, the SDK error as cause', async () => {
    // Nothing listens there: connection refused on every attempt.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const store = new S3ObjectStore({
      client: createS3Client({ ...motoClientConfig(closed) }),
      bucket: 'cirrusmq-down',
      keyPrefix: 'c1/broker-a',
    });
    const started = Date.now();
    const e = await expectCode(store.putObject('k', Buffer.from('x')), 'TIER_UNAVAILABLE');
    expect(e.retriable).toBe(true);
    expect(e.cause).toBeInstanceOf(Error);
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'segment'), Buffer.alloc(11 * MiB));
      await expectCode(store.putObject('seg', { filePath: path.join(dir, 'segment'), start: 0, end: 11 * MiB }), 'TIER_UNAVAILABLE');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await expectCode(store.getRange('k', 0, 10), 'TIER_UNAVAILABLE');
    await expectCode(store.getObject('k'), 'TIER_UNAVAILABLE');
    await expectCode(store.list(''), 'TIER_UNAVAILABLE');
    await expectCode(store.deleteObjects(['k']), 'TIER_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(store.requestCounts.errors).toBe(6);
    store.close();
  });
});

async function emptyBucket(client: S3Client, name: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}
