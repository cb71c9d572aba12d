/**
 * The NameServer's settings. This is the only file of the runtime that reads process.env,
 * so every knob is listed, defaulted and checked in one place, and a bad value stops the
 * process at start instead of surfacing as a strange failure later.
 */
import { isLogLevel, type LogLevel } from '@cirrusmq/client/protocol';

export type RouteBackend = 'embedded' | 'dynamodb';

export interface AwsSettings {
  /** An emulator (LocalStack, moto_server); undefined means real AWS. */
  readonly endpoint?: string;
  readonly region: string;
  /** Set only for emulators when the env has none: they accept any key. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface NameServerConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly backend: RouteBackend;
  readonly aws: AwsSettings;
  readonly tableName: string;
  /** Used when a registration carries no heartbeatTimeoutMs (RocketMQ: 120 s). */
  readonly brokerExpiryMs: number;
  /** How often the embedded store deletes expired brokers (RocketMQ: 10 s). */
  readonly sweepIntervalMs: number;
  readonly logLevel: LogLevel;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NameServerConfig {
  const endpoint = optional(env, 'AWS_ENDPOINT_URL');
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
    throw configError('AWS_ENDPOINT_URL', endpoint, 'an http(s) URL');
  }
  const hasEnvCredentials = Boolean(env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE);
  return {
    host: optional(env, 'CIRRUSMQ_NAMESRV_HOST') ?? '127.0.0.1',
    // 0 lets tests ask the OS for a free port.
    port: integer(env, 'CIRRUSMQ_NAMESRV_PORT', 9876, 0, 65_535),
    dataDir: optional(env, 'CIRRUSMQ_DATA_DIR') ?? './.cirrusmq-data',
    backend: backend(env),
    aws: {
      endpoint,
      region: optional(env, 'AWS_REGION') ?? 'us-east-1',
      credentials: endpoint !== undefined && !hasEnvCredentials ? { accessKeyId: 'test', secretAccessKey: 'test' } : undefined,
    },
    tableName: tableName(env),
    brokerExpiryMs: integer(env, 'CIRRUSMQ_BROKER_EXPIRY_MS', 120_000, 1, 24 * 3_600_000),
    sweepIntervalMs: integer(env, 'CIRRUSMQ_SWEEP_INTERVAL_MS', 10_000, 1, 3_600_000),
    logLevel: logLevel(env),
  };
}

function backend(env: NodeJS.ProcessEnv): RouteBackend {
  const raw = optional(env, 'CIRRUSMQ_ROUTE_BACKEND');
  if (raw === undefined) {
    // An emulator endpoint or a Lambda container means the AWS code path is wanted.
    return env.AWS_ENDPOINT_URL || env.AWS_LAMBDA_FUNCTION_NAME ? 'dynamodb' : 'embedded';
  }
  if (raw !== 'embedded' && raw !== 'dynamodb') throw configError('CIRRUSMQ_ROUTE_BACKEND', raw, '"embedded" or "dynamodb"');
  return raw;
}

function tableName(env: NodeJS.ProcessEnv): string {
  const raw = optional(env, 'CIRRUSMQ_TABLE_NAME') ?? 'cirrusmq-nameserver';
  // DynamoDB's own naming rule, checked here so the error names the variable.
  if (!/^[a-zA-Z0-9_.-]{3,255}$/.test(raw)) throw configError('CIRRUSMQ_TABLE_NAME', raw, 'a DynamoDB table name');
  return raw;
}

function logLevel(env: NodeJS.ProcessEnv): LogLevel {
  const raw = optional(env, 'CIRRUSMQ_LOG_LEVEL') ?? 'info';
  if (!isLogLevel(raw)) throw configError('CIRRUSMQ_LOG_LEVEL', raw, 'debug, info, warn or error');
  return raw;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw configError(name, raw, `an integer from ${min} to ${max}`);
  return n;
}

/** An empty variable counts as unset, as shells and CDK often export empty strings. */
function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function configError(name: string, value: string, expected: string): Error {
  return new Error(`invalid ${name}=${JSON.stringify(value)}: expected ${expected}`);
}
