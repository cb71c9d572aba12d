import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerAddr, loadBrokerConfig } from './config';

describe('loadBrokerConfig', () => {
  it('has defaults that run a broker on a laptop', () => {
    const c = loadBrokerConfig({});
    expect(c).toEqual({
      clusterName: 'DefaultCluster',
      brokerName: 'broker-a',
      brokerId: 0,
      brokerHost: '127.0.0.1',
      listenHost: '127.0.0.1',
      brokerPort: 10911,
      namesrvAddr: '127.0.0.1:9876',
      storeDir: path.resolve('.cirrusmq-data/broker-a'),
      commitLogSegmentBytes: 1024 * 1024 * 1024,
      commitLogPreallocate: false,
      consumeQueueUnitsPerFile: 300_000,
      flushDiskType: 'ASYNC_FLUSH',
      flushIntervalMs: 500,
      syncFlushTimeoutMs: 5_000,
      fileReservedTimeMs: 72 * 3_600_000,
      diskBudgetBytes: 0,
      cleanIntervalMs: 10_000,
      indexHashSlotNum: 1_000_000,
      indexNum: 4_000_000,
      heartbeatIntervalMs: 30_000,
      heartbeatTimeoutMs: 120_000,
      logLevel: 'info',
      durability: 'async',
      tier: {
        kind: 'local',
        prefix: 'DefaultCluster/broker-a/',
        dir: path.resolve('.cirrusmq-data/broker-a-tier'),
        bucket: '',
        tableName: '',
        region: 'us-east-1',
        endpoint: undefined,
        retentionMs: 0,
        checkIntervalMs: 5_000,
        uploadBytesPerSec: 64 * 1024 * 1024,
        uploader: 'process',
        uploadNice: 10,
        blockBytes: 4 * 1024 * 1024,
        cacheBytes: 64 * 1024 * 1024,
        readAheadBlocks: 4,
        walWindowMs: 100,
        walMaxChunkBytes: 4 * 1024 * 1024,
        walAckTimeoutMs: 10_000,
      },
      popSnapshotIntervalMs: 60_000,
      timerMaxDelayMs: 40 * 86_400_000,
      timerPrecisionMs: 50,
      timerWheelSpanMs: 86_400_000,
      transactionCheckFirstMs: 6_000,
      transactionCheckIntervalMs: 30_000,
      transactionCheckMax: 15,
      transactionCheckUrlTimeoutMs: 3_000,
      transactionCheckUrlPrefixes: [],
    });
    expect(c.receiptKey).toBeUndefined();
    expect(brokerAddr(c, 10911)).toBe('127.0.0.1:10911');
  });

  it('reads the POP snapshot interval and a hex receipt key; refuses a short or non-hex key', () => {
    const c = loadBrokerConfig({ CIRRUSMQ_POP_SNAPSHOT_INTERVAL_MS: '1500', CIRRUSMQ_RECEIPT_KEY: '00112233445566778899aabbccddeeff' });
    expect(c.popSnapshotIntervalMs).toBe(1_500);
    expect(c.receiptKey?.toString('hex')).toBe('00112233445566778899aabbccddeeff');
    expect(() => loadBrokerConfig({ CIRRUSMQ_RECEIPT_KEY: '0011' })).toThrow(/CIRRUSMQ_RECEIPT_KEY/);
    expect(() => loadBrokerConfig({ CIRRUSMQ_RECEIPT_KEY: 'zz112233445566778899aabbccddeeff' })).toThrow(/CIRRUSMQ_RECEIPT_KEY/);
  });

  it('reads the tier and the durability', () => {
    const s3 = loadBrokerConfig({
      CIRRUSMQ_TIER_BUCKET: 'my-tier',
      CIRRUSMQ_TABLE_NAME: 'cirrusmq',
      CIRRUSMQ_TIER_PREFIX: 'C/b/',
      CIRRUSMQ_DURABILITY: 's3',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_REGION: 'eu-west-1',
      CIRRUSMQ_RETENTION_MS: '3600000',
      CIRRUSMQ_S3_WAL_WINDOW_MS: '50',
    });
    expect(s3.durability).toBe('s3');
    expect(s3.flushDiskType).toBe('ASYNC_FLUSH');
    expect(s3.tier).toMatchObject({
      kind: 's3',
      bucket: 'my-tier',
      tableName: 'cirrusmq',
      prefix: 'C/b/DefaultCluster/broker-a/',
      endpoint: 'http://127.0.0.1:5000',
      region: 'eu-west-1',
      retentionMs: 3_600_000,
      walWindowMs: 50,
    });
    expect(loadBrokerConfig({ CIRRUSMQ_DURABILITY: 'sync' }).flushDiskType).toBe('SYNC_FLUSH');
    expect(loadBrokerConfig({ CIRRUSMQ_FLUSH_DISK_TYPE: 'SYNC_FLUSH' }).durability).toBe('sync');
    expect(loadBrokerConfig({ CIRRUSMQ_TIER: 'off' }).tier).toEqual({ kind: 'off' });
    expect(loadBrokerConfig({ CIRRUSMQ_STORE_DIR: '/data/store' }).tier).toMatchObject({ dir: '/data/store-tier' });
    expect(() => loadBrokerConfig({ CIRRUSMQ_DURABILITY: 's3', CIRRUSMQ_TIER: 'off' })).toThrow(/needs tiering/);
    expect(() => loadBrokerConfig({ CIRRUSMQ_TIER: 's3' })).toThrow(/CIRRUSMQ_TIER_BUCKET.*CIRRUSMQ_TABLE_NAME/s);
    expect(() => loadBrokerConfig({ CIRRUSMQ_DURABILITY: 'sync', CIRRUSMQ_FLUSH_DISK_TYPE: 'ASYNC_FLUSH' })).toThrow(/contradicts/);
    expect(() => loadBrokerConfig({ CIRRUSMQ_DURABILITY: 'always' })).toThrow(/CIRRUSMQ_DURABILITY/);
  });

  it('always ends the tier prefix with {cluster}/{brokerName}/: brokers given one CIRRUSMQ_TIER_PREFIX get their own', () => {
    // As the local launcher starts them: the same env but the broker's name and store.
    const shared = { CIRRUSMQ_TIER_BUCKET: 'tier', CIRRUSMQ_TABLE_NAME: 'cirrusmq', CIRRUSMQ_TIER_PREFIX: 'team/' };
    const a = loadBrokerConfig({ ...shared, CIRRUSMQ_BROKER_NAME: 'broker-a' });
    const b = loadBrokerConfig({ ...shared, CIRRUSMQ_BROKER_NAME: 'broker-b' });
    expect([a.tier.kind === 'off' ? '' : a.tier.prefix, b.tier.kind === 'off' ? '' : b.tier.prefix]).toEqual([
      'team/DefaultCluster/broker-a/',
      'team/DefaultCluster/broker-b/',
    ]);
    expect(loadBrokerConfig({ CIRRUSMQ_CLUSTER: 'c2', CIRRUSMQ_BROKER_NAME: 'x' }).tier).toMatchObject({ prefix: 'c2/x/' });
    expect(() => loadBrokerConfig({ CIRRUSMQ_TIER_PREFIX: 'no-slash' })).toThrow(/CIRRUSMQ_TIER_PREFIX/);
    // A '..' segment would lead the local tier out of its folder.
    expect(() => loadBrokerConfig({ CIRRUSMQ_TIER_PREFIX: '../' })).toThrow(/CIRRUSMQ_TIER_PREFIX/);
  });

  it('reads every variable', () => {
    const c = loadBrokerConfig({
      CIRRUSMQ_CLUSTER: 'C1',
      CIRRUSMQ_BROKER_NAME: 'broker-b',
      CIRRUSMQ_BROKER_ID: '1',
      CIRRUSMQ_BROKER_HOST: '10.0.0.7',
      CIRRUSMQ_BROKER_PORT: '0',
      CIRRUSMQ_NAMESRV_ADDR: 'http://ns.local:9876',
      CIRRUSMQ_STORE_DIR: '/tmp/x',
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: '65536',
      CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '1000',
      CIRRUSMQ_FLUSH_DISK_TYPE: 'SYNC_FLUSH',
      CIRRUSMQ_COMMITLOG_PREALLOCATE: 'true',
      CIRRUSMQ_FLUSH_INTERVAL_MS: '10',
      CIRRUSMQ_SYNC_FLUSH_TIMEOUT_MS: '250',
      CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '1000',
      CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '5000',
      CIRRUSMQ_LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      clusterName: 'C1',
      brokerName: 'broker-b',
      brokerId: 1,
      brokerPort: 0,
      storeDir: '/tmp/x',
      commitLogSegmentBytes: 65536,
      logLevel: 'debug',
    });
    expect(c).toMatchObject({ flushDiskType: 'SYNC_FLUSH', flushIntervalMs: 10, syncFlushTimeoutMs: 250, commitLogPreallocate: true });
    expect(
      loadBrokerConfig({
        CIRRUSMQ_FILE_RESERVED_TIME_MS: '60000',
        CIRRUSMQ_DISK_BUDGET_BYTES: '1073741824',
        CIRRUSMQ_CLEAN_INTERVAL_MS: '500',
        CIRRUSMQ_INDEX_HASH_SLOTS: '1024',
        CIRRUSMQ_INDEX_MAX_ENTRIES: '4096',
      }),
    ).toMatchObject({ fileReservedTimeMs: 60_000, diskBudgetBytes: 1_073_741_824, cleanIntervalMs: 500, indexHashSlotNum: 1024, indexNum: 4096 });
    expect(loadBrokerConfig({ CIRRUSMQ_BROKER_NAME: 'b2' }).storeDir).toBe(path.resolve('.cirrusmq-data/b2'));
    expect(brokerAddr({ brokerHost: '::1' }, 1)).toBe('[::1]:1');
  });

  it('names every bad variable in one error', () => {
    expect(() =>
      loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: 'abc', CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: '100', CIRRUSMQ_LOG_LEVEL: 'loud', CIRRUSMQ_BROKER_NAME: 'a b' }),
    ).toThrow(/CIRRUSMQ_BROKER_PORT.*CIRRUSMQ_COMMITLOG_SEGMENT_BYTES.*CIRRUSMQ_LOG_LEVEL/s);
    expect(() => loadBrokerConfig({ CIRRUSMQ_BROKER_NAME: 'a b' })).toThrow(/CIRRUSMQ_BROKER_NAME/);
    expect(() => loadBrokerConfig({ CIRRUSMQ_FLUSH_DISK_TYPE: 'SOMETIMES' })).toThrow(
      /invalid CIRRUSMQ_FLUSH_DISK_TYPE="SOMETIMES": expected ASYNC_FLUSH or SYNC_FLUSH/,
    );
    expect(() => loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '70000' })).toThrow(/from 0 to 65535/);
    expect(() => loadBrokerConfig({ CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '200000' })).toThrow(/must exceed/);
  });
});
