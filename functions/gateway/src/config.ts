/** The gateway's settings: the only reader of process.env in this runtime. */
import { isLogLevel, type LogLevel } from '@cirrusmq/client/protocol';

export interface GatewayConfig {
  host: string;
  port: number;
  nameServerAddr: string;
  sendTimeoutMs: number;
  routeTtlMs: number;
  retryTimesWhenSendFailed: number;
  /**
   * Broker requests of one topic in flight before further batches wait and merge (autoBatch).
   * 2, not the SDK's 4: a busy gateway then sends fewer, larger batches, and each broker
   * request saved is a loopback write and wakeup on both sides.
   */
  maxInflightPerTopic: number;
  logLevel: LogLevel;
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const logLevel = env.CIRRUSMQ_LOG_LEVEL ?? 'info';
  if (!isLogLevel(logLevel)) throw new Error(`CIRRUSMQ_LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);
  return {
    host: env.CIRRUSMQ_GATEWAY_HOST ?? '127.0.0.1',
    port: intVar(env, 'CIRRUSMQ_GATEWAY_PORT', 8080, 0, 65535),
    nameServerAddr: env.CIRRUSMQ_NAMESRV_ADDR ?? '127.0.0.1:9876',
    sendTimeoutMs: intVar(env, 'CIRRUSMQ_SEND_TIMEOUT_MS', 3000, 1, 600_000),
    routeTtlMs: intVar(env, 'CIRRUSMQ_ROUTE_TTL_MS', 30_000, 0, 3_600_000),
    retryTimesWhenSendFailed: intVar(env, 'CIRRUSMQ_RETRY_TIMES_WHEN_SEND_FAILED', 2, 0, 16),
    maxInflightPerTopic: intVar(env, 'CIRRUSMQ_MAX_INFLIGHT_PER_TOPIC', 2, 1, 1024),
    logLevel,
  };
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}
