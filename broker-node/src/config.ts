/**
 * The broker's settings: the only reader of process.env in broker-node. Every variable has
 * a default that runs a broker on a laptop; a bad value stops the start with a message
 * naming the variable, instead of a broker that misbehaves later.
 */
import path from 'node:path';
import { DURABILITIES, type Env, EnvReader, envVar, formatEnvHelp, LOG_LEVELS, type LogLevel } from '@cirrusmq/client/protocol';
import type { FlushDiskType, StoreDurability } from './store/message-store-types';
import { STORE_DEFAULTS } from './store/store-defaults';

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
  /** How often the POP state is snapshotted (bounds the journal replay at a restart and the journal retention keeps). */
  readonly popSnapshotIntervalMs: number;
  /** The receipt handles' HMAC key when the deployment sets one; otherwise the broker's stored key. */
  readonly receiptKey?: Buffer;
  /** Timer messages (timer/): the furthest a delivery time may lie ahead, the wheel's tick, and the span its slots file covers. */
  readonly timerMaxDelayMs: number;
  readonly timerPrecisionMs: number;
  readonly timerWheelSpanMs: number;
  /** Transactional messages (transaction/): the first check-back of a half message, the interval of the next ones, how many before a rollback, and a check URL's timeout. */
  readonly transactionCheckFirstMs: number;
  readonly transactionCheckIntervalMs: number;
  readonly transactionCheckMax: number;
  readonly transactionCheckUrlTimeoutMs: number;
  /** Check URLs must start with one of these (empty: any http(s) URL). */
  readonly transactionCheckUrlPrefixes: string[];
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
  /** Dummy keys for an emulator endpoint when the environment has none; undefined: the SDK's default chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Tiered segments whose last message is older are deleted (overall retention); 0 = never. */
  readonly retentionMs: number;
  readonly checkIntervalMs: number;
  /** A sealed segment's upload moves at most this many bytes per second (0 = no limit): sends keep their CPU and disk. */
  readonly uploadBytesPerSec: number;
  /** 'process': a sealed segment's upload work runs in a child process at `uploadNice`; 'inline': on the broker's event loop. */
  readonly uploader: 'process' | 'inline';
  readonly uploadNice: number;
  /** Cold reads: ranged GETs of aligned blocks, through a bounded cache, read-ahead for sequential readers. */
  readonly blockBytes: number;
  readonly cacheBytes: number;
  readonly readAheadBlocks: number;
  /** Durability 's3': group-commit window and size cap of a write-ahead chunk, and how long a send waits for it. */
  readonly walWindowMs: number;
  readonly walMaxChunkBytes: number;
  readonly walAckTimeoutMs: number;
}

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
/** Small segments are for tests; below this a segment would roll every few messages. */
export const MIN_SEGMENT_BYTES = 64 * 1024;
/** Positions inside a segment stay well inside a JS number and a single fs call. */
export const MAX_SEGMENT_BYTES = 2 * GiB;

const NAME = { pattern: /^[a-zA-Z0-9_-]{1,64}$/, expected: '1 to 64 letters, digits, _ or -' };
const MAX = Number.MAX_SAFE_INTEGER;
const { str, int, port, bool, oneOf } = envVar;
const S = STORE_DEFAULTS;

/** Every variable the broker reads: the parser below and `--help` (brokerHelp) both use this table. */
export const BROKER_ENV = {
  cluster: str('CIRRUSMQ_CLUSTER', 'DefaultCluster', { description: 'cluster name', ...NAME }),
  brokerName: str('CIRRUSMQ_BROKER_NAME', 'broker-a', { description: 'broker name', ...NAME }),
  brokerId: int('CIRRUSMQ_BROKER_ID', 0, 0, 1024, { description: 'broker id, 0 = master' }),
  brokerHost: str('CIRRUSMQ_BROKER_HOST', '127.0.0.1', {
    description: 'host advertised to the NameServer',
    pattern: /^[a-zA-Z0-9.:\-[\]]+$/,
    expected: 'a host name or IP address',
  }),
  listenHost: str('CIRRUSMQ_BROKER_LISTEN_HOST', '127.0.0.1', {
    description: 'interface to listen on (the API has no authentication)',
    pattern: /^[a-zA-Z0-9.:-]+$/,
    expected: 'a host name or IP address',
  }),
  brokerPort: port('CIRRUSMQ_BROKER_PORT', 10911, { description: 'listen port (0 = any free port)', allowZero: true }),
  namesrvAddr: str('CIRRUSMQ_NAMESRV_ADDR', '127.0.0.1:9876', {
    description: 'the NameServer, host:port',
    pattern: /^(https?:\/\/)?[a-zA-Z0-9.\-[\]:]+(:\d+)?\/?$/,
    expected: 'host:port or an http(s) URL',
  }),
  storeDir: str('CIRRUSMQ_STORE_DIR', undefined, { description: 'store folder', defaultText: './.cirrusmq-data/<broker name>' }),
  segmentBytes: int('CIRRUSMQ_COMMITLOG_SEGMENT_BYTES', S.commitLogSegmentBytes, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES, {
    description: 'CommitLog segment size',
  }),
  preallocate: bool('CIRRUSMQ_COMMITLOG_PREALLOCATE', false, { description: 'zero-fill the next CommitLog segment ahead instead of sparse files' }),
  cqUnits: int('CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE', S.consumeQueueUnitsPerFile, 16, 50_000_000, { description: 'ConsumeQueue entries per file' }),
  flushDiskType: oneOf('CIRRUSMQ_FLUSH_DISK_TYPE', ['ASYNC_FLUSH', 'SYNC_FLUSH'] as const, 'ASYNC_FLUSH', {
    description: "RocketMQ's name for async/sync durability",
  }),
  flushIntervalMs: int('CIRRUSMQ_FLUSH_INTERVAL_MS', S.flushIntervalMs, 1, 60_000, { description: 'ASYNC_FLUSH: fdatasync period' }),
  syncFlushTimeoutMs: int('CIRRUSMQ_SYNC_FLUSH_TIMEOUT_MS', S.syncFlushTimeoutMs, 1, 600_000, {
    description: 'SYNC_FLUSH: a send not on disk within this answers FLUSH_DISK_TIMEOUT',
  }),
  durability: oneOf('CIRRUSMQ_DURABILITY', DURABILITIES, 'async', {
    description: 'when a send is acknowledged: after the write, after fdatasync, or after an S3 write-ahead chunk',
    defaultText: 'async; sync with SYNC_FLUSH',
  }),
  fileReservedTimeMs: int('CIRRUSMQ_FILE_RESERVED_TIME_MS', S.fileReservedTimeMs, 1, MAX, { description: "local retention by a segment's last write" }),
  diskBudgetBytes: int('CIRRUSMQ_DISK_BUDGET_BYTES', S.diskBudgetBytes, 0, MAX, {
    description: 'local retention: CommitLog bytes kept on disk, 0 = unlimited',
  }),
  cleanIntervalMs: int('CIRRUSMQ_CLEAN_INTERVAL_MS', S.cleanIntervalMs, 10, 86_400_000, { description: 'how often retention checks' }),
  indexHashSlots: int('CIRRUSMQ_INDEX_HASH_SLOTS', S.indexHashSlotNum, 16, 50_000_000, { description: 'key index: hash slots per file (x 4 bytes of memory)' }),
  indexMaxEntries: int('CIRRUSMQ_INDEX_MAX_ENTRIES', S.indexNum, 64, 100_000_000, { description: 'key index: entries per file' }),
  heartbeatIntervalMs: int('CIRRUSMQ_HEARTBEAT_INTERVAL_MS', 30_000, 100, 3_600_000, { description: 'registration period' }),
  heartbeatTimeoutMs: int('CIRRUSMQ_HEARTBEAT_TIMEOUT_MS', 120_000, 1_000, 86_400_000, {
    description: 'the NameServer drops the broker after this without a heartbeat',
  }),
  logLevel: oneOf('CIRRUSMQ_LOG_LEVEL', LOG_LEVELS, 'info', { description: 'log level' }),
  tierBucket: str('CIRRUSMQ_TIER_BUCKET', undefined, {
    description: 's3 tier: the bucket',
    pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    expected: 'an S3 bucket name',
  }),
  tier: oneOf('CIRRUSMQ_TIER', ['local', 's3', 'off'] as const, 'local', {
    description: 'where sealed segments go: a folder, S3, or nowhere',
    defaultText: 'local; s3 when CIRRUSMQ_TIER_BUCKET is set',
  }),
  tableName: str('CIRRUSMQ_TABLE_NAME', undefined, {
    description: 's3 tier: the DynamoDB manifest table',
    pattern: /^[a-zA-Z0-9_.-]{3,255}$/,
    expected: 'a DynamoDB table name',
  }),
  awsEndpoint: str('AWS_ENDPOINT_URL', undefined, {
    description: 's3 tier: S3 and DynamoDB endpoint (moto_server, LocalStack)',
    pattern: /^https?:\/\/\S+$/,
    expected: 'an http(s) URL',
  }),
  awsAccessKeyId: str('AWS_ACCESS_KEY_ID', undefined, { description: 'with AWS_ENDPOINT_URL: when unset, the emulator gets dummy credentials' }),
  awsRegion: str('AWS_REGION', 'us-east-1', { description: 's3 tier: region' }),
  tierPrefix: str('CIRRUSMQ_TIER_PREFIX', '', {
    description: 'tier key base; <cluster>/<broker name>/ always follows',
    pattern: /^([a-zA-Z0-9_-][a-zA-Z0-9_.-]*\/)*$/,
    expected: "'' or path segments each ending in / (no . or .. segment)",
  }),
  tierDir: str('CIRRUSMQ_TIER_DIR', undefined, { description: 'local tier: the folder', defaultText: '<store dir>-tier' }),
  retentionMs: int('CIRRUSMQ_RETENTION_MS', 0, 0, MAX, { description: 'tiered segments older than this are deleted, 0 = never' }),
  tierCheckIntervalMs: int('CIRRUSMQ_TIER_CHECK_INTERVAL_MS', 5_000, 10, 3_600_000, { description: 'how often the uploader looks for sealed segments' }),
  // 64 MiB/s uploads a 1 GiB segment in 16 s: a broker writing a sustained 20 MiB/s (20k
  // msg/s of 1 KB) seals one every ~50 s, and even a flat-out 55 MiB/s keeps up; the upload's
  // CPU (a few core-seconds per GiB) is then spread over those seconds instead of taken at once.
  // A faster writer is not left behind: a backlog uploads flat out (tier-upload-service.ts).
  tierUploadBytesPerSec: int('CIRRUSMQ_TIER_UPLOAD_BYTES_PER_SEC', 64 * MiB, 0, MAX, {
    description: 'a sealed segment uploads at most this many bytes/s, so sends keep their CPU and disk; a backlog goes flat out (0 = no limit)',
  }),
  // The upload's scan, CRCs and copy cost a few CPU seconds per GiB; on a 2-vCPU task beside
  // the send and consume paths they would queue those paths' threads behind them
  // (docs/architecture.md, "A seal's upload runs at a low CPU priority").
  tierUploader: oneOf('CIRRUSMQ_TIER_UPLOADER', ['process', 'inline'] as const, 'process', {
    description: "where a sealed segment's upload work runs: a child process at CIRRUSMQ_TIER_UPLOAD_NICE, or inline on the broker's event loop",
  }),
  tierUploadNice: int('CIRRUSMQ_TIER_UPLOAD_NICE', 10, 0, 19, { description: "the uploader process's nice value (19: the lowest priority)" }),
  tierBlockBytes: int('CIRRUSMQ_TIER_BLOCK_BYTES', 4 * MiB, 64 * 1024, 256 * MiB, { description: 'cold reads: ranged GET block size' }),
  tierCacheBytes: int('CIRRUSMQ_TIER_CACHE_BYTES', 64 * MiB, 0, 64 * 1024 * MiB, { description: 'cold reads: block cache size' }),
  tierReadAheadBlocks: int('CIRRUSMQ_TIER_READ_AHEAD_BLOCKS', 4, 0, 64, { description: 'cold reads: blocks read ahead for sequential readers' }),
  walWindowMs: int('CIRRUSMQ_S3_WAL_WINDOW_MS', 100, 1, 10_000, { description: 's3 durability: group-commit window' }),
  walMaxBytes: int('CIRRUSMQ_S3_WAL_MAX_BYTES', 4 * MiB, 64 * 1024, 512 * MiB, { description: 's3 durability: write-ahead chunk size cap' }),
  walAckTimeoutMs: int('CIRRUSMQ_S3_WAL_ACK_TIMEOUT_MS', 10_000, 100, 600_000, { description: 's3 durability: wait before FLUSH_S3_TIMEOUT' }),
  popSnapshotIntervalMs: int('CIRRUSMQ_POP_SNAPSHOT_INTERVAL_MS', 60_000, 100, 86_400_000, {
    description: 'consumers: POP state snapshot period (bounds the replay at a restart)',
  }),
  receiptKey: str('CIRRUSMQ_RECEIPT_KEY', undefined, {
    description: 'consumers: receipt handle HMAC key, hex (unset: generated once, kept in the store and the tier)',
    pattern: /^([0-9a-fA-F]{2}){16,64}$/,
    expected: '32 to 128 hex digits',
  }),
  timerMaxDelayMs: int('CIRRUSMQ_TIMER_MAX_DELAY_MS', 40 * 86_400_000, 1_000, 3_650 * 86_400_000, {
    description: 'timer messages: the furthest a delivery time may lie ahead (beyond: 400 INVALID_DELAY)',
  }),
  timerPrecisionMs: int('CIRRUSMQ_TIMER_PRECISION_MS', 50, 10, 1_000, {
    description: 'timer messages: the wheel tick (a timer fires at most this late plus a pass)',
  }),
  timerWheelSpanMs: int('CIRRUSMQ_TIMER_WHEEL_SPAN_MS', 86_400_000, 60_000, 7 * 86_400_000, {
    description: 'timer messages: the span of the wheel file (16 bytes a tick); timers beyond half of it roll forward',
  }),
  transactionCheckFirstMs: int('CIRRUSMQ_TRANSACTION_CHECK_FIRST_MS', 6_000, 10, 86_400_000, {
    description: "transactions: first check-back of an unresolved half message after it is stored (RocketMQ's transactionTimeOut)",
  }),
  transactionCheckIntervalMs: int('CIRRUSMQ_TRANSACTION_CHECK_INTERVAL_MS', 30_000, 10, 86_400_000, {
    description: "transactions: interval between check-backs (RocketMQ's transactionCheckInterval)",
  }),
  transactionCheckMax: int('CIRRUSMQ_TRANSACTION_CHECK_MAX', 15, 0, 1_000, {
    description: "transactions: check-backs before an unresolved half message is rolled back and logged (RocketMQ's transactionCheckMax)",
  }),
  transactionCheckUrlPrefixes: str('CIRRUSMQ_TRANSACTION_CHECK_URL_PREFIXES', undefined, {
    description:
      "transactions: comma-separated URL prefixes a producer group's check URL must start with (the broker POSTs to it: set this in a deployment so it cannot be pointed at internal services); unset: any http(s) URL",
    defaultText: 'unset',
  }),
  transactionCheckUrlTimeoutMs: int('CIRRUSMQ_TRANSACTION_CHECK_URL_TIMEOUT_MS', 3_000, 10, 60_000, {
    description: "transactions: a producer group's check URL answering later than this counts as UNKNOWN",
  }),
};

/** `--help` of broker-node/src/main.ts, from BROKER_ENV. */
export function brokerHelp(): string {
  return `CirrusMQ broker: node --import tsx broker-node/src/main.ts

Environment:
${formatEnvHelp(Object.values(BROKER_ENV))}
`;
}

export function loadBrokerConfig(env: Env = process.env): BrokerConfig {
  const r = new EnvReader(env);
  const V = BROKER_ENV;
  const clusterName = r.str(V.cluster);
  const brokerName = r.str(V.brokerName);
  const brokerId = r.int(V.brokerId);
  const brokerHost = r.str(V.brokerHost);
  const listenHost = r.str(V.listenHost);
  const brokerPort = r.int(V.brokerPort);
  const namesrvAddr = r.str(V.namesrvAddr);
  const storeDir = path.resolve(r.str(V.storeDir, path.join('.cirrusmq-data', brokerName)));
  const commitLogSegmentBytes = r.int(V.segmentBytes);
  const commitLogPreallocate = r.bool(V.preallocate);
  const consumeQueueUnitsPerFile = r.int(V.cqUnits);
  const flushDiskType = r.oneOf(V.flushDiskType);
  const flushIntervalMs = r.int(V.flushIntervalMs);
  const syncFlushTimeoutMs = r.int(V.syncFlushTimeoutMs);
  const fileReservedTimeMs = r.int(V.fileReservedTimeMs);
  const diskBudgetBytes = r.int(V.diskBudgetBytes);
  const cleanIntervalMs = r.int(V.cleanIntervalMs);
  const indexHashSlotNum = r.int(V.indexHashSlots);
  const indexNum = r.int(V.indexMaxEntries);
  const heartbeatIntervalMs = r.int(V.heartbeatIntervalMs);
  const heartbeatTimeoutMs = r.int(V.heartbeatTimeoutMs);
  const logLevel = r.oneOf(V.logLevel);
  const popSnapshotIntervalMs = r.int(V.popSnapshotIntervalMs);
  const receiptKeyHex = r.str(V.receiptKey);
  const timerMaxDelayMs = r.int(V.timerMaxDelayMs);
  const timerPrecisionMs = r.int(V.timerPrecisionMs);
  const timerWheelSpanMs = r.int(V.timerWheelSpanMs);
  const transactionCheckFirstMs = r.int(V.transactionCheckFirstMs);
  const transactionCheckIntervalMs = r.int(V.transactionCheckIntervalMs);
  const transactionCheckMax = r.int(V.transactionCheckMax);
  const transactionCheckUrlTimeoutMs = r.int(V.transactionCheckUrlTimeoutMs);
  const transactionCheckUrlPrefixes = (r.str(V.transactionCheckUrlPrefixes) ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    r.problem(
      `CIRRUSMQ_HEARTBEAT_TIMEOUT_MS (${heartbeatTimeoutMs}) must exceed CIRRUSMQ_HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs}), or the broker expires between heartbeats`,
      V.heartbeatTimeoutMs.name,
      V.heartbeatIntervalMs.name,
    );
  }
  const durability = r.oneOf(V.durability, flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async');
  if (r.isSet(V.flushDiskType) && (durability === 'sync') !== (flushDiskType === 'SYNC_FLUSH')) {
    r.problem(
      `CIRRUSMQ_DURABILITY=${durability} contradicts CIRRUSMQ_FLUSH_DISK_TYPE=${flushDiskType}: 'sync' is SYNC_FLUSH, 'async' and 's3' are ASYNC_FLUSH`,
      V.durability.name,
      V.flushDiskType.name,
    );
  }
  const tier = loadTierSettings(r, { clusterName, brokerName, storeDir });
  if (durability === 's3' && tier.kind === 'off')
    r.problem('CIRRUSMQ_DURABILITY=s3 needs tiering: CIRRUSMQ_TIER must not be off', V.durability.name, V.tier.name);
  r.done('broker');

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
    commitLogPreallocate,
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
    logLevel,
    durability,
    tier,
    popSnapshotIntervalMs,
    receiptKey: receiptKeyHex ? Buffer.from(receiptKeyHex, 'hex') : undefined,
    timerMaxDelayMs,
    timerPrecisionMs,
    timerWheelSpanMs,
    transactionCheckFirstMs,
    transactionCheckIntervalMs,
    transactionCheckMax,
    transactionCheckUrlTimeoutMs,
    transactionCheckUrlPrefixes,
  };
}

/**
 * CIRRUSMQ_TIER: 'local' (default: the folder `{storeDir}-tier`), 's3' (default when
 * CIRRUSMQ_TIER_BUCKET is set; the manifest is in CIRRUSMQ_TABLE_NAME) or 'off'.
 */
function loadTierSettings(r: EnvReader, broker: { clusterName: string; brokerName: string; storeDir: string }): TierSettings {
  const V = BROKER_ENV;
  const bucket = r.str(V.tierBucket) ?? '';
  const kind = r.oneOf(V.tier, bucket ? 's3' : 'local');
  if (kind === 'off') return { kind: 'off' };
  const tableName = r.str(V.tableName) ?? '';
  const endpoint = r.str(V.awsEndpoint);
  const settings: TierOn = {
    kind,
    prefix: `${r.str(V.tierPrefix)}${broker.clusterName}/${broker.brokerName}/`,
    // Beside the store folder, not in it (a wiped store keeps it), and not shared with other stores' parents.
    dir: path.resolve(r.str(V.tierDir, `${broker.storeDir}-tier`)),
    bucket,
    tableName,
    region: r.str(V.awsRegion),
    endpoint,
    // Local endpoints take any credentials; in AWS the default chain (the task role) applies.
    credentials: endpoint && !r.isSet(V.awsAccessKeyId) ? { accessKeyId: 'test', secretAccessKey: 'test' } : undefined,
    retentionMs: r.int(V.retentionMs),
    checkIntervalMs: r.int(V.tierCheckIntervalMs),
    uploadBytesPerSec: r.int(V.tierUploadBytesPerSec),
    uploader: r.oneOf(V.tierUploader),
    uploadNice: r.int(V.tierUploadNice),
    blockBytes: r.int(V.tierBlockBytes),
    cacheBytes: r.int(V.tierCacheBytes),
    readAheadBlocks: r.int(V.tierReadAheadBlocks),
    walWindowMs: r.int(V.walWindowMs),
    walMaxChunkBytes: r.int(V.walMaxBytes),
    walAckTimeoutMs: r.int(V.walAckTimeoutMs),
  };
  if (kind === 's3' && !bucket) r.problem('CIRRUSMQ_TIER=s3 needs CIRRUSMQ_TIER_BUCKET', V.tierBucket.name);
  if (kind === 's3' && !tableName) r.problem('CIRRUSMQ_TIER=s3 needs CIRRUSMQ_TABLE_NAME (the tier manifest)', V.tableName.name);
  return settings;
}

/** The address producers and the NameServer use to reach this broker. */
export function brokerAddr(config: Pick<BrokerConfig, 'brokerHost'>, port: number): string {
  const host = config.brokerHost.includes(':') && !config.brokerHost.startsWith('[') ? `[${config.brokerHost}]` : config.brokerHost;
  return `${host}:${port}`;
}
