/**
 * One broker per tier prefix (tier-prefix-owner.ts), on the local tier and on S3 (moto):
 *   - the marker is written once and claimed again by the same broker (a restart, a restore
 *     onto an empty disk); a marker naming another broker is TIER_PREFIX_OWNED, left as it was;
 *   - a broker whose prefix holds a forged marker refuses to start, before it restores,
 *     writes or uploads anything (in process with the local tier; as a process on S3);
 *   - segment objects an earlier run put but never committed are deleted at start on a
 *     claimed prefix (the segment then tiers with its new bytes), never overwritten.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { CirrusError, silentLogger } from '@cirrusmq/client/protocol';
import { freePort } from '../../../test/support/free-port';
import { Proc } from '../../../test/support/proc';
import { motoClientConfig } from '../../../test/support/moto';
import { createMotoTier } from '../../../test/support/tier-on-moto';
import { BrokerController } from '../broker-controller';
import { loadBrokerConfig } from '../config';
import { FakeNameServer } from '../testing/fake-nameserver';
import { DefaultMessageStore } from '../store/message-store';
import { makeBatch } from '../testing/fixtures';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';
import { expectCode } from './object-store.contract';
import type { ObjectStore } from './object-store';
import { createS3Client, S3ObjectStore } from './s3-object-store';
import { claimTierPrefix, OWNER_KEY } from './tier-prefix-owner';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const endpoint = inject('motoEndpoint');
const A = { clusterName: 'DefaultCluster', brokerName: 'broker-a' };
const B = { clusterName: 'DefaultCluster', brokerName: 'broker-b' };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-prefix-owner-'));
  dirs.push(d);
  return d;
}

function ownerContract(name: string, open: (prefix: string) => ObjectStore): void {
  describe(`claimTierPrefix: ${name}`, () => {
    it('writes the marker once; the same broker claims it again (restart, restore onto an empty disk)', async () => {
      const store = open(`p${Math.random().toString(36).slice(2)}/DefaultCluster/broker-a/`);
      await claimTierPrefix(store, A);
      await claimTierPrefix(store, A);
      expect(JSON.parse((await store.getObject(OWNER_KEY)).toString())).toEqual({ cluster: 'DefaultCluster', brokerName: 'broker-a' });
      store.close();
    });

    it('refuses a prefix whose marker names another broker, naming it, and leaves the marker', async () => {
      const store = open(`p${Math.random().toString(36).slice(2)}/shared/`);
      await claimTierPrefix(store, B);
      const err = await expectCode(claimTierPrefix(store, A), 'TIER_PREFIX_OWNED');
      expect(err.message).toContain('broker-b');
      expect(err.message).toContain(store.location);
      expect(JSON.parse((await store.getObject(OWNER_KEY)).toString()).brokerName).toBe('broker-b');
      expect(await store.list('')).toEqual([OWNER_KEY]);
      store.close();
    });
  });
}

ownerContract('local folder', (prefix) => new LocalObjectStore(tempDir(), prefix));

describe('a broker on a prefix another broker owns (local tier)', () => {
  it('refuses to start before it restores or writes anything, and the marker stays', async () => {
    const dir = tempDir();
    const storeDir = path.join(dir, 'broker-a');
    // The tier of another broker, as a copied folder or a hand-set prefix would give it.
    const tierDir = path.join(dir, 'tier');
    const foreign = new LocalObjectStore(tierDir, 'DefaultCluster/broker-a/');
    await claimTierPrefix(foreign, B);
    await foreign.putObject('commitlog/00000000000000000000', Buffer.from('broker-b data'));
    const config = loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: storeDir, CIRRUSMQ_TIER_DIR: tierDir });
    const broker = new BrokerController(config, { nameServer: new FakeNameServer(), logger: silentLogger });
    const err = await broker.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    await broker.shutdown();
    expect(err).toBeInstanceOf(CirrusError);
    expect((err as CirrusError).code).toBe('TIER_PREFIX_OWNED');
    expect((err as CirrusError).message).toMatch(/belongs to .*broker-b.*not to .*broker-a/);
    // Nothing restored into the store folder, nothing written to the tier.
    expect(fs.existsSync(path.join(storeDir, 'commitlog'))).toBe(false);
    expect(await foreign.list('')).toEqual(['commitlog/00000000000000000000', OWNER_KEY]);
    expect((await foreign.getObject('commitlog/00000000000000000000')).toString()).toBe('broker-b data');
  });
});

describe('objects an earlier run uploaded but never committed', () => {
  const SEGMENT = 4096;
  /** A store with a local tier on `dir`, claimed by broker-a when `owner`; uploads only when asked. */
  async function open(dir: string, owner: boolean) {
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'DefaultCluster/broker-a/');
    const tier = new TieredStorage(
      objects,
      new LocalTierManifest(path.join(dir, 'tier', '_manifest')),
      {
        storeDir: path.join(dir, 'store'),
        commitLogSegmentBytes: SEGMENT,
        consumeQueueUnitsPerFile: 16,
        read: { blockBytes: 1024, cacheBytes: 8 * 1024, readAheadBlocks: 1 },
        upload: { ...DEFAULT_TIER_UPLOAD_CONFIG, autoUpload: false },
        owner: owner ? A : undefined,
      },
      silentLogger,
    );
    const store = new DefaultMessageStore(
      { storeDir: path.join(dir, 'store'), commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, flushIntervalMs: 50 },
      silentLogger,
      tier,
    );
    await store.open();
    for (let i = 0; i < 40; i++) await store.putMessages(makeBatch('T', 0, [{ body: `m${i}-${'q'.repeat(200)}` }]));
    return { objects, tier, store };
  }
  async function leftovers(dir: string): Promise<LocalObjectStore> {
    const objects = new LocalObjectStore(path.join(dir, 'tier'), 'DefaultCluster/broker-a/');
    await claimTierPrefix(objects, A);
    // Segment 0 of a log that is gone (a wiped disk restored, a tail lost to power): other bytes.
    await objects.putObject('commitlog/00000000000000000000', Buffer.from('an earlier run'));
    await objects.putObject('consumequeue/00000000000000000000', Buffer.from('an earlier run'));
    await objects.putObject('wal/00000000000000000000-00000000000000000014', Buffer.from('an earlier run'));
    return objects;
  }

  it('are deleted at start on a claimed prefix, so the segment tiers with its new bytes; write-ahead chunks stay', async () => {
    const dir = tempDir();
    await leftovers(dir);
    const { objects, tier, store } = await open(dir, true);
    try {
      await tier.uploadPendingNow();
      const local = fs.readFileSync(path.join(dir, 'store', 'commitlog', '00000000000000000000'));
      expect((await objects.getObject('commitlog/00000000000000000000')).equals(local)).toBe(true);
      expect(await objects.list('wal/')).toEqual(['wal/00000000000000000000-00000000000000000014']);
    } finally {
      await store.shutdown();
    }
  });

  it('are never overwritten by an upload: without the claim the upload fails with a conflict and they stay', async () => {
    const dir = tempDir();
    await leftovers(dir);
    const { objects, tier, store } = await open(dir, false);
    try {
      await expect(tier.uploadPendingNow()).rejects.toThrow(/upload failed/);
      expect((await objects.getObject('commitlog/00000000000000000000')).toString()).toBe('an earlier run');
      expect(tier.stats().tieredSegments).toBe(0);
    } finally {
      await store.shutdown();
    }
  });
});

describe('two broker processes given one CIRRUSMQ_TIER_PREFIX and tier folder (as `npm start` passes its env to both)', () => {
  it('write under their own prefixes, each marked with its own name', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'logs'));
    const procs = await Promise.all(
      ['broker-a', 'broker-b'].map(async (name) => {
        const port = await freePort();
        const env = {
          CIRRUSMQ_TIER_PREFIX: 'shared/',
          CIRRUSMQ_TIER_DIR: path.join(dir, 'tier'),
          CIRRUSMQ_BROKER_NAME: name,
          CIRRUSMQ_BROKER_PORT: String(port),
          // No NameServer: the tier is claimed while the store opens, before registration.
          CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:1',
          CIRRUSMQ_STORE_DIR: path.join(dir, name),
        };
        return new Proc(name, 'broker-node/src/main.ts', env, `http://127.0.0.1:${port}/healthz`, path.join(dir, 'logs', `${name}.log`));
      }),
    );
    try {
      await Promise.all(procs.map((p) => p.start()));
      for (const name of ['broker-a', 'broker-b']) {
        const marker = fs.readFileSync(path.join(dir, 'tier', 'shared', 'DefaultCluster', name, OWNER_KEY), 'utf8');
        expect(JSON.parse(marker)).toEqual({ cluster: 'DefaultCluster', brokerName: name });
      }
      expect(fs.existsSync(path.join(dir, 'tier', 'shared', OWNER_KEY))).toBe(false);
    } finally {
      await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    }
  }, 60_000);
});

describe.skipIf(!endpoint)('tier prefix ownership on S3 (moto)', () => {
  const admin = new S3Client({ ...motoClientConfig(endpoint!), forcePathStyle: true });
  let motoBucket = '';
  beforeAll(async () => {
    motoBucket = (await createMotoTier(endpoint!)).bucket;
  });
  afterAll(() => admin.destroy());

  ownerContract(
    'S3',
    (prefix) =>
      new S3ObjectStore({
        client: createS3Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
        bucket: motoBucket,
        keyPrefix: prefix,
      }),
  );

  it('a broker process whose S3 prefix holds a forged marker exits non-zero naming the owner, and writes nothing', async () => {
    const tier = await createMotoTier(endpoint!);
    const forged = JSON.stringify({ cluster: 'DefaultCluster', brokerName: 'broker-z' }) + '\n';
    await admin.send(new PutObjectCommand({ Bucket: tier.bucket, Key: 'base/DefaultCluster/broker-a/owner', Body: forged }));
    const storeDir = path.join(tempDir(), 'broker-a');
    const env = {
      ...tier.brokerEnv(),
      CIRRUSMQ_TIER_PREFIX: 'base/',
      CIRRUSMQ_BROKER_NAME: 'broker-a',
      CIRRUSMQ_BROKER_PORT: String(await freePort()),
      CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:1',
      CIRRUSMQ_STORE_DIR: storeDir,
    };
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', 'broker-node/src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, out).not.toBe(0);
    expect(out).toContain('TIER_PREFIX_OWNED');
    expect(out).toContain('broker-z');
    expect(out).not.toContain('broker listening');
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: tier.bucket }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual(['base/DefaultCluster/broker-a/owner']);
    expect(fs.existsSync(path.join(storeDir, 'commitlog'))).toBe(false);
  }, 60_000);
});
