/** The gRPC proxy's settings: the only reader of process.env in this runtime. */
import { type Env, EnvReader, envVar, formatEnvHelp, Limits, LOG_LEVELS, type LogLevel } from '@cirrusmq/client/protocol';

export interface ProxyConfig {
  host: string;
  /** The gRPC port (RocketMQ's proxy: 8081); 0 = any free port. */
  port: number;
  /**
   * A plain HTTP port answering GET /healthz with the pid: gRPC needs HTTP/2, so the launcher's
   * fetch and a load balancer's HTTP check cannot ask the gRPC port itself. 0 = any free port.
   */
  healthPort: number;
  nameServerAddr: string;
  sendTimeoutMs: number;
  routeTtlMs: number;
  retryTimesWhenSendFailed: number;
  maxInflightPerTopic: number;
  /** How long a group's settings (orderly, retryMaxTimes) are served from memory. */
  groupTtlMs: number;
  /** publishing.max_body_size in the settings the clients get: the brokers' limit. */
  maxBodySize: number;
  /** The producers' max_attempts (RocketMQ's grpcClientProducerMaxAttempts, 3). */
  producerMaxAttempts: number;
  logLevel: LogLevel;
}

const { str, int, port, oneOf } = envVar;

/** Every variable the proxy reads: loadProxyConfig and `--help` (proxyHelp) both use this table. */
export const PROXY_ENV = {
  host: str('CIRRUSMQ_GRPC_PROXY_HOST', '127.0.0.1', { description: 'listen host' }),
  port: port('CIRRUSMQ_GRPC_PROXY_PORT', 8081, { description: 'gRPC port (apache.rocketmq.v2.MessagingService; 0 = any free port)', allowZero: true }),
  healthPort: port('CIRRUSMQ_GRPC_PROXY_HEALTH_PORT', 8082, { description: 'HTTP port answering GET /healthz (0 = any free port)', allowZero: true }),
  nameServerAddr: str('CIRRUSMQ_NAMESRV_ADDR', '127.0.0.1:9876', { description: 'the NameServer, host:port' }),
  sendTimeoutMs: int('CIRRUSMQ_SEND_TIMEOUT_MS', 3000, 1, 600_000, { description: 'budget of one send, retries included' }),
  routeTtlMs: int('CIRRUSMQ_ROUTE_TTL_MS', 30_000, 0, 3_600_000, { description: 'route cache lifetime' }),
  retryTimes: int('CIRRUSMQ_RETRY_TIMES_WHEN_SEND_FAILED', 2, 0, 16, { description: 'retries on another broker' }),
  maxInflightPerTopic: int('CIRRUSMQ_MAX_INFLIGHT_PER_TOPIC', 2, 1, 1024, { description: 'broker requests of a topic in flight before batches merge' }),
  groupTtlMs: int('CIRRUSMQ_GROUP_TTL_MS', 30_000, 0, 3_600_000, { description: 'consumer group settings cache lifetime' }),
  producerMaxAttempts: int('CIRRUSMQ_GRPC_PRODUCER_MAX_ATTEMPTS', 3, 1, 16, { description: 'max_attempts the producers are told' }),
  logLevel: oneOf('CIRRUSMQ_LOG_LEVEL', LOG_LEVELS, 'info', { description: 'log level' }),
};

/** `--help` of grpc-proxy/src/main.ts, from PROXY_ENV. */
export function proxyHelp(): string {
  return `CirrusMQ gRPC proxy (RocketMQ 5's MessagingService for the official clients): node --import tsx grpc-proxy/src/main.ts

Environment:
${formatEnvHelp(Object.values(PROXY_ENV))}
`;
}

export function loadProxyConfig(env: Env = process.env): ProxyConfig {
  const r = new EnvReader(env);
  const V = PROXY_ENV;
  const config: ProxyConfig = {
    host: r.str(V.host),
    port: r.int(V.port),
    healthPort: r.int(V.healthPort),
    nameServerAddr: r.str(V.nameServerAddr),
    sendTimeoutMs: r.int(V.sendTimeoutMs),
    routeTtlMs: r.int(V.routeTtlMs),
    retryTimesWhenSendFailed: r.int(V.retryTimes),
    maxInflightPerTopic: r.int(V.maxInflightPerTopic),
    groupTtlMs: r.int(V.groupTtlMs),
    maxBodySize: Limits.MAX_BODY_BYTES,
    producerMaxAttempts: r.int(V.producerMaxAttempts),
    logLevel: r.oneOf(V.logLevel),
  };
  r.done('grpc-proxy');
  return config;
}
