/**
 * The broker's settings: the only reader of process.env in broker-node. Every variable has
 * a default that runs a broker on a laptop; a bad value stops the start with a message
 * naming the variable, instead of a broker that misbehaves later.
 */
import path from 'node:path';
import { CirrusError, isLogLevel, type LogLevel } from '@cirrusmq/client/protocol';
import type { FlushDiskType, StoreDurability } from './store/message-store-types';

export interface BrokerConfig {
  readonly clusterName: string;
  readonly brokerName: string;
  /** 0 = master, as RocketMQ. */
  readonly brokerId: number;
  /** The host advertised to the NameServer (producers and the gateway dial it). */
  readonly brokerHost: string;
  /**
   * The interface the broker listens on: 127.0.0.1 unless set, because its API has no
   * authentication. A container sets 0.0.0.0 so the gateway Lambdas reach it.
   */
  readonly listenHost: string;
  /** 0 picks a free port (tests); the advertised address then uses the real one. */
  readonly brokerPort: number;
  readonly namesrvAddr: string;
  /** Absolute. */
  readonly storeDir: string;
  readonly commitLogSegmentBytes: number;
  /** Zero-fill the next CommitLog segment ahead of time instead of sparse segments (store/allocate-mapped-file-service.ts). */
  readonly commitLogPreallocate: boolean;
  readonly consumeQueueUnitsPerFile: number;
  /** ASYNC_FLUSH: ack after the write, fdatasync every flushIntervalMs; SYNC_FLUSH: ack after a group-commit fdatasync. */
  readonly flushDiskType: FlushDiskType;
  readonly flushIntervalMs: number;
  /** SYNC_FLUSH: a send whose fdatasync takes longer answers FLUSH_DISK_TIMEOUT (RocketMQ's syncFlushTimeout). */
  readonly syncFlushTimeoutMs: number;
  /** Retention: CommitLog segments whose last write is older than this are deleted (RocketMQ's fileReservedTime). */
  readonly fileReservedTimeMs: number;
  /** Retention: the CommitLog's local bytes are kept under this, oldest segments first; 0 = unlimited. */
  readonly diskBudgetBytes: number;
  /** How often retention checks. */
  readonly cleanIntervalMs: number;
  /** Index files: hash slots (kept in memory x 4 bytes for the file being written) and entries per file. */
  readonly indexHashSlotNum: number;
  readonly indexNum: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly logLevel: LogLevel;
  /**
   * When a send is acknowledged: 'async' after the write, 'sync' after fdatasync (SYNC_FLUSH),
   * 's3' after the bytes are in an S3 write-ahead chunk (needs tiering).
   */
  readonly durability: Durability;
  readonly tier: TierSettings;
}

export type Durability = StoreDurability;

/** Where sealed segments go (tier/): a local folder, S3 with a DynamoDB manifest, or nowhere. */
export type TierSettings = TierOff | TierOn;
export interface TierOff {
  readonly kind: 'off';
}
export interface TierOn {
  readonly kind: 'local' | 's3';
  /**
   * Object key prefix of this broker: CIRRUSMQ_TIER_PREFIX (a base, '' by default) then
   * always `{cluster}/{brokerName}/`, so brokers given one base never share a prefix.
   */
  readonly prefix: string;
  /** local: the folder (outside the store folder, so a wiped store keeps it). */
  readonly dir: string;
  /** s3: the bucket, the manifest table, the region and an optional endpoint (moto, LocalStack). */
  readonly bucket: string;
  readonly tableName: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  /** Tiered segments whose last message is older are deleted (overall retention); 0 = never. */
  readonly retentionMs: number;
  readonly checkIntervalMs: number;
  /** Cold reads: ranged GETs of aligned blocks, through a bounded cache, read-ahead for sequential readers. */
  readonly blockBytes: number;
  readonly cacheBytes: number;
  readonly readAheadBlocks: number;
  /** Durability 's3': group-commit window and size cap of a write-ahead chunk, and how long a send waits for it. */
  readonly walWindowMs: number;
  readonly walMaxChunkBytes: number;
  readonly walAckTimeoutMs: number;
}

const FLUSH_DISK_TYPES: readonly string[] = ['ASYNC_FLUSH', 'SYNC_FLUSH'];

const GiB = 1024 * 1024 * 1024;
/** Small segments are for tests; below this a segment would roll every few messages. */
export const MIN_SEGMENT_BYTES = 64 * 1024;
/** Positions inside a segment stay well inside a JS number and a single fs call. */
export const MAX_SEGMENT_BYTES = 2 * GiB;

type Env = Record<string, string | undefined>;

export function loadBrokerConfig(env: Env = process.env): BrokerConfig {
  const problems: string[] = [];
  const str = (name: string, fallback: string, pattern?: RegExp): string => {
    const raw = env[name];
    const v = raw === undefined || raw === '' ? fallback : raw.trim();
    if (pattern && !pattern.test(v)) problems.push(`${name} must match ${pattern.source}, got "${v}"`);
    return v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return v;
  };

  const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
  const clusterName = str('CIRRUSMQ_CLUSTER', 'DefaultCluster', NAME);
  const brokerName = str('CIRRUSMQ_BROKER_NAME', 'broker-a', NAME);
  const brokerId = int('CIRRUSMQ_BROKER_ID', 0, 0, 1024);
  const brokerHost = str('CIRRUSMQ_BROKER_HOST', '127.0.0.1', /^[a-zA-Z0-9.:\-[\]]+$/);
  const listenHost = str('CIRRUSMQ_BROKER_LISTEN_HOST', '127.0.0.1', /^[a-zA-Z0-9.:-]+$/);
  const brokerPort = int('CIRRUSMQ_BROKER_PORT', 10911, 0, 65535);
  const namesrvAddr = str('CIRRUSMQ_NAMESRV_ADDR', '127.0.0.1:9876', /^(https?:\/\/)?[a-zA-Z0-9.\-[\]:]+(:\d+)?\/?$/);
  const storeDir = path.resolve(str('CIRRUSMQ_STORE_DIR', path.join('.cirrusmq-data', brokerName)));
  const commitLogSegmentBytes = int('CIRRUSMQ_COMMITLOG_SEGMENT_BYTES', GiB, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES);
  const preallocate = str('CIRRUSMQ_COMMITLOG_PREALLOCATE', 'false', /^(true|false)$/);
  const consumeQueueUnitsPerFile = int('CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE', 300_000, 16, 50_000_000);
  const flushDiskType = str('CIRRUSMQ_FLUSH_DISK_TYPE', 'ASYNC_FLUSH');
  if (!FLUSH_DISK_TYPES.includes(flushDiskType)) problems.push(`CIRRUSMQ_FLUSH_DISK_TYPE must be ASYNC_FLUSH or SYNC_FLUSH, got "${flushDiskType}"`);
  const flushIntervalMs = int('CIRRUSMQ_FLUSH_INTERVAL_MS', 500, 1, 60_000);
  const syncFlushTimeoutMs = int('CIRRUSMQ_SYNC_FLUSH_TIMEOUT_MS', 5_000, 1, 600_000);
  const fileReservedTimeMs = int('CIRRUSMQ_FILE_RESERVED_TIME_MS', 72 * 3_600_000, 1, Number.MAX_SAFE_INTEGER);
  const diskBudgetBytes = int('CIRRUSMQ_DISK_BUDGET_BYTES', 0, 0, Number.MAX_SAFE_INTEGER);
  const cleanIntervalMs = int('CIRRUSMQ_CLEAN_INTERVAL_MS', 10_000, 10, 86_400_000);
  const indexHashSlotNum = int('CIRRUSMQ_INDEX_HASH_SLOTS', 1_000_000, 16, 50_000_000);
  const indexNum = int('CIRRUSMQ_INDEX_MAX_ENTRIES', 4_000_000, 64, 100_000_000);
  const heartbeatIntervalMs = int('CIRRUSMQ_HEARTBEAT_INTERVAL_MS', 30_000, 100, 3_600_000);
  const heartbeatTimeoutMs = int('CIRRUSMQ_HEARTBEAT_TIMEOUT_MS', 120_000, 1_000, 86_400_000);
  const logLevel = str('CIRRUSMQ_LOG_LEVEL', 'info');
  if (!isLogLevel(logLevel)) problems.push(`CIRRUSMQ_LOG_LEVEL must be one of debug, info, warn, error, got "${logLevel}"`);
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    problems.push(
      `CIRRUSMQ_HEARTBEAT_TIMEOUT_MS (${heartbeatTimeoutMs}) must exceed CIRRUSMQ_HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs}), or the broker expires between heartbeats`,
    );
  }
  const durabilityRaw = str('CIRRUSMQ_DURABILITY', flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async', /^(async|sync|s3)$/);
  const durability = durabilityRaw as Durability;
  if (env.CIRRUSMQ_FLUSH_DISK_TYPE && ((durability === 'sync') !== (flushDiskType === 'SYNC_FLUSH'))) {
    problems.push(`CIRRUSMQ_DURABILITY=${durability} contradicts CIRRUSMQ_FLUSH_DISK_TYPE=${flushDiskType}: 'sync' is SYNC_FLUSH, 'async' and 's3' are ASYNC_FLUSH`);
  }
  const tier = loadTierSettings({ clusterName, brokerName, storeDir }, str, int, problems);
  if (durability === 's3' && tier.kind === 'off') problems.push('CIRRUSMQ_DURABILITY=s3 needs tiering: CIRRUSMQ_TIER must not be off');
  if (problems.length > 0) throw new CirrusError('INVALID_PARAMETER', `invalid broker configuration: ${problems.join('; ')}`);

  return {
    clusterName,
    brokerName,
    brokerId,
    brokerHost,
    listenHost,
    brokerPort,
    namesrvAddr,
    storeDir,
    commitLogSegmentBytes,
    commitLogPreallocate: preallocate === 'true',
    consumeQueueUnitsPerFile,
    flushDiskType: durability === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH',
    flushIntervalMs,
    syncFlushTimeoutMs,
    fileReservedTimeMs,
    diskBudgetBytes,
    cleanIntervalMs,
    indexHashSlotNum,
    indexNum,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    logLevel: logLevel as LogLevel,
    durability,
    tier,
  };
}

type StrReader = (name: string, fallback: string, pattern?: RegExp) => string;
type IntReader = (name: string, fallback: number, min: number, max: number) => number;

/**
 * CIRRUSMQ_TIER: 'local' (default: the folder `{storeDir}-tier`), 's3' (default when
 * CIRRUSMQ_TIER_BUCKET is set; the manifest is in CIRRUSMQ_TABLE_NAME) or 'off'.
 */
function loadTierSettings(broker: { clusterName: string; brokerName: string; storeDir: string }, str: StrReader, int: IntReader, problems: string[]): TierSettings {
  const MiB = 1024 * 1024;
  const bucket = str('CIRRUSMQ_TIER_BUCKET', '', /^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$/);
  const kind = str('CIRRUSMQ_TIER', bucket ? 's3' : 'local', /^(local|s3|off)$/);
  if (kind === 'off') return { kind: 'off' };
  const tableName = str('CIRRUSMQ_TABLE_NAME', '', /^([a-zA-Z0-9_.-]{3,255})?$/);
  const endpoint = str('AWS_ENDPOINT_URL', '', /^(https?:\/\/\S+)?$/);
  const settings: TierOn = {
    kind: kind as TierOn['kind'],
    prefix: `${str('CIRRUSMQ_TIER_PREFIX', '', /^([a-zA-Z0-9_-][a-zA-Z0-9_.-]*\/)*$/)}${broker.clusterName}/${broker.brokerName}/`,
    // Beside the store folder, not in it (a wiped store keeps it), and not shared with other stores' parents.
    dir: path.resolve(str('CIRRUSMQ_TIER_DIR', `${broker.storeDir}-tier`)),
    bucket,
    tableName,
    region: str('AWS_REGION', 'us-east-1'),
    endpoint: endpoint || undefined,
    retentionMs: int('CIRRUSMQ_RETENTION_MS', 0, 0, Number.MAX_SAFE_INTEGER),
    checkIntervalMs: int('CIRRUSMQ_TIER_CHECK_INTERVAL_MS', 5_000, 10, 3_600_000),
    blockBytes: int('CIRRUSMQ_TIER_BLOCK_BYTES', 4 * MiB, 64 * 1024, 256 * MiB),
    cacheBytes: int('CIRRUSMQ_TIER_CACHE_BYTES', 64 * MiB, 0, 64 * 1024 * MiB),
    readAheadBlocks: int('CIRRUSMQ_TIER_READ_AHEAD_BLOCKS', 4, 0, 64),
    walWindowMs: int('CIRRUSMQ_S3_WAL_WINDOW_MS', 100, 1, 10_000),
    walMaxChunkBytes: int('CIRRUSMQ_S3_WAL_MAX_BYTES', 4 * MiB, 64 * 1024, 512 * MiB),
    walAckTimeoutMs: int('CIRRUSMQ_S3_WAL_ACK_TIMEOUT_MS', 10_000, 100, 600_000),
  };
  if (kind === 's3' && !bucket) problems.push('CIRRUSMQ_TIER=s3 needs CIRRUSMQ_TIER_BUCKET');
  if (kind === 's3' && !tableName) problems.push('CIRRUSMQ_TIER=s3 needs CIRRUSMQ_TABLE_NAME (the tier manifest)');
  return settings;
}

/** The address producers and the NameServer use to reach this broker. */
export function brokerAddr(config: Pick<BrokerConfig, 'brokerHost'>, port: number): string {
  const host = config.brokerHost.includes(':') && !config.brokerHost.startsWith('[') ? `[${config.brokerHost}]` : config.brokerHost;
  return `${host}:${port}`;
}
