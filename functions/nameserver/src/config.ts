/**
 * The NameServer's settings. This is the only file of the runtime that reads process.env,
 * so every knob is listed, defaulted and checked in one place, and a bad value stops the
 * process at start instead of surfacing as a strange failure later.
 */
import { type Env, EnvReader, envVar, formatEnvHelp, LOG_LEVELS, type LogLevel } from '@cirrusmq/client/protocol';

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

const { str, int, port, oneOf } = envVar;

/** Every variable the NameServer reads: loadConfig and `--help` (nameServerHelp) both use this table. */
export const NAMESRV_ENV = {
  host: str('CIRRUSMQ_NAMESRV_HOST', '127.0.0.1', { description: 'listen host' }),
  // 0 lets tests ask the OS for a free port.
  port: port('CIRRUSMQ_NAMESRV_PORT', 9876, { description: 'listen port (0 = any free port)', allowZero: true }),
  dataDir: str('CIRRUSMQ_DATA_DIR', './.cirrusmq-data', { description: 'embedded backend: topic config under <dir>/nameserver' }),
  backend: oneOf('CIRRUSMQ_ROUTE_BACKEND', ['embedded', 'dynamodb'] as const, 'embedded', {
    description: 'route store',
    defaultText: 'embedded; dynamodb when AWS_ENDPOINT_URL or AWS_LAMBDA_FUNCTION_NAME is set',
  }),
  awsEndpoint: str('AWS_ENDPOINT_URL', undefined, {
    description: 'DynamoDB endpoint (LocalStack, moto_server)',
    pattern: /^https?:\/\/[^/\s]+/,
    expected: 'an http(s) URL',
  }),
  awsRegion: str('AWS_REGION', 'us-east-1', { description: 'DynamoDB region' }),
  awsAccessKeyId: str('AWS_ACCESS_KEY_ID', undefined, {
    description: 'with AWS_ENDPOINT_URL: when this, AWS_PROFILE and AWS_WEB_IDENTITY_TOKEN_FILE are unset, the emulator gets dummy credentials',
  }),
  awsProfile: str('AWS_PROFILE', undefined, { description: 'AWS credentials profile (see AWS_ACCESS_KEY_ID)' }),
  awsWebIdentity: str('AWS_WEB_IDENTITY_TOKEN_FILE', undefined, { description: 'AWS web identity credentials (see AWS_ACCESS_KEY_ID)' }),
  lambdaName: str('AWS_LAMBDA_FUNCTION_NAME', undefined, { description: 'set by Lambda: the default backend becomes dynamodb' }),
  // DynamoDB's own naming rule, checked here so the error names the variable.
  tableName: str('CIRRUSMQ_TABLE_NAME', 'cirrusmq-nameserver', {
    description: 'DynamoDB table (created if missing)',
    pattern: /^[a-zA-Z0-9_.-]{3,255}$/,
    expected: 'a DynamoDB table name',
  }),
  brokerExpiryMs: int('CIRRUSMQ_BROKER_EXPIRY_MS', 120_000, 1, 24 * 3_600_000, { description: 'broker liveness when a registration names none' }),
  sweepIntervalMs: int('CIRRUSMQ_SWEEP_INTERVAL_MS', 10_000, 1, 3_600_000, { description: 'embedded backend: sweep of expired brokers' }),
  logLevel: oneOf('CIRRUSMQ_LOG_LEVEL', LOG_LEVELS, 'info', { description: 'log level' }),
};

/** `--help` of functions/nameserver/src/main.ts, from NAMESRV_ENV. */
export function nameServerHelp(): string {
  return `CirrusMQ NameServer: node --import tsx functions/nameserver/src/main.ts

Environment:
${formatEnvHelp(Object.values(NAMESRV_ENV))}
`;
}

export function loadConfig(env: Env = process.env): NameServerConfig {
  const r = new EnvReader(env);
  const V = NAMESRV_ENV;
  const endpoint = r.str(V.awsEndpoint);
  const hasEnvCredentials = r.isSet(V.awsAccessKeyId) || r.isSet(V.awsProfile) || r.isSet(V.awsWebIdentity);
  // An emulator endpoint or a Lambda container means the AWS code path is wanted.
  const awsWanted = r.isSet(V.awsEndpoint) || r.isSet(V.lambdaName);
  const config: NameServerConfig = {
    host: r.str(V.host),
    port: r.int(V.port),
    dataDir: r.str(V.dataDir),
    backend: r.oneOf(V.backend, awsWanted ? 'dynamodb' : 'embedded'),
    aws: {
      endpoint,
      region: r.str(V.awsRegion),
      credentials: endpoint !== undefined && !hasEnvCredentials ? { accessKeyId: 'test', secretAccessKey: 'test' } : undefined,
    },
    tableName: r.str(V.tableName),
    brokerExpiryMs: r.int(V.brokerExpiryMs),
    sweepIntervalMs: r.int(V.sweepIntervalMs),
    logLevel: r.oneOf(V.logLevel),
  };
  r.done('nameserver');
  return config;
}
