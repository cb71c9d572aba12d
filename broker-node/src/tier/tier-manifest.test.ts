/**
 * The TierManifest contract for both manifests: JSON files in a temp folder, and DynamoDB
 * on moto_server in the NameServer's table (created by the NameServer's own ensureTable).
 * Then what only one of them has: file names and torn writes; item layout and outages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTable } from '../../../functions/nameserver/src/route-table/ensure-table';
import { freePort } from '../../../test/support/free-port';
import { motoClientConfig } from '../../../test/support/moto';
import { DynamoDbTierManifest } from './dynamodb-tier-manifest';
import { LocalTierManifest } from './local-tier-manifest';
import { expectCode } from './object-store.contract';
import { seg, tierManifestContract } from './tier-manifest.contract';

const endpoint = inject('motoEndpoint');
/** Unique per run, so runs sharing one moto_server (MOTO_ENDPOINT) never collide. */
const runId = `${process.pid}-${Date.now().toString(36)}`;
const GiB = 1024 * 1024 * 1024;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-manifest-'));
}

tierManifestContract('local folder', async () => {
  const root = tempDir();
  return {
    // One folder per broker: the caller passes each broker its own tier folder.
    open: (brokerName) => new LocalTierManifest(path.join(root, brokerName, 'manifest')),
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});

describe('LocalTierManifest', () => {
  it('writes one JSON file per entry, named by the 20-digit startOffset, and ignores temp files', async () => {
    const dir = tempDir();
    try {
      const manifest = new LocalTierManifest(dir);
      await manifest.commit(seg(3 * GiB));
      expect(fs.readdirSync(dir)).toEqual(['00000000003221225472.json']);
      expect(JSON.parse(fs.readFileSync(path.join(dir, '00000000003221225472.json'), 'utf8'))).toEqual(seg(3 * GiB));
      // What a crash in the middle of a commit leaves behind.
      fs.writeFileSync(path.join(dir, '.00000000004294967296.json.tmp-1-abcd'), '{"startOff');
      expect(await manifest.list()).toEqual([seg(3 * GiB)]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists nothing from a folder not created yet', async () => {
    expect(await new LocalTierManifest(path.join(os.tmpdir(), `cirrusmq-none-${runId}`)).list()).toEqual([]);
  });

  it('refuses a corrupt entry loudly rather than restoring without it', async () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, '00000000000000000000.json'), '{"startOffset": 0}');
      await expectCode(new LocalTierManifest(dir).list(), 'INTERNAL');
      fs.writeFileSync(path.join(dir, '00000000000000000000.json'), 'not json');
      await expectCode(new LocalTierManifest(dir).list(), 'INTERNAL');
      fs.writeFileSync(path.join(dir, '00000000000000000000.json'), JSON.stringify(seg(GiB)));
      await expectCode(new LocalTierManifest(dir).list(), 'INTERNAL');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers TIER_UNAVAILABLE when its folder cannot be written', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'not-a-folder');
      fs.writeFileSync(file, '');
      await expectCode(new LocalTierManifest(file).commit(seg(0)), 'TIER_UNAVAILABLE');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (!endpoint) {
  describe.skip('TierManifest contract: dynamodb (skipped: moto_server is not installed)', () => {
    it('needs moto_server', () => {});
  });
} else {
  const tableName = `cirrusmq-tier-test-${runId}`;
  const client = new DynamoDBClient(motoClientConfig(endpoint));
  const doc = DynamoDBDocumentClient.from(client);
  let clusterCount = 0;

  beforeAll(async () => {
    await ensureTable(client, tableName, { pollMs: 20 });
  });
  afterAll(async () => {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    client.destroy();
  });

  tierManifestContract('dynamodb (moto)', async () => {
    // A cluster per test: one table per run, and every test starts empty.
    const clusterName = `c${++clusterCount}`;
    return {
      open: (brokerName) => new DynamoDbTierManifest({ doc, tableName, clusterName, brokerName }),
      cleanup: async () => {},
    };
  });

  describe('DynamoDbTierManifest on moto', () => {
    it('stores TIER#{cluster}#{brokerName} / SEG#{20 digits} items with the segment fields and no TTL', async () => {
      const manifest = new DynamoDbTierManifest({ doc, tableName, clusterName: 'layout', brokerName: 'broker-a' });
      await manifest.commit(seg(3 * GiB));
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'TIER#layout#broker-a' }, sk: { S: 'SEG#00000000003221225472' } }, ConsistentRead: true }),
      );
      expect(Item).toEqual({
        pk: { S: 'TIER#layout#broker-a' },
        sk: { S: 'SEG#00000000003221225472' },
        startOffset: { N: String(3 * GiB) },
        endOffset: { N: String(4 * GiB) },
        commitLogKey: { S: 'commitlog/00000000003221225472' },
        consumeQueueKey: { S: 'consumequeue/00000000003221225472' },
        objectSize: { N: String(GiB - 123) },
        crc32: { N: String(0xdeadbeef) },
        firstStoreTimestamp: { N: '1700000000000' },
        lastStoreTimestamp: { N: '1700000360000' },
        tieredAt: { N: '1700000400000' },
      });
    });

    it('refuses cluster or broker names that could reach another partition', () => {
      expect(() => new DynamoDbTierManifest({ doc, tableName, clusterName: 'a#b', brokerName: 'x' })).toThrow(/invalid/);
      expect(() => new DynamoDbTierManifest({ doc, tableName, clusterName: 'a', brokerName: '' })).toThrow(/invalid/);
    });
  });
}

describe('DynamoDbTierManifest when DynamoDB is down', () => {
  it('rejects with TIER_UNAVAILABLE within seconds, the SDK error as cause', async () => {
    const down = new DynamoDBClient({
      ...motoClientConfig(`http://127.0.0.1:${await freePort()}`),
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1_000 },
    });
    const manifest = new DynamoDbTierManifest({ doc: DynamoDBDocumentClient.from(down), tableName: 't', clusterName: 'c', brokerName: 'b' });
    const started = Date.now();
    const e = await expectCode(manifest.list(), 'TIER_UNAVAILABLE');
    expect(e.cause).toBeInstanceOf(Error);
    await expectCode(manifest.commit(seg(0)), 'TIER_UNAVAILABLE');
    await expectCode(manifest.remove(0), 'TIER_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(10_000);
    down.destroy();
  });
});
