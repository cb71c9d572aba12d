/** The gateway's settings: the only reader of process.env in this runtime. */
import { type Env, EnvReader, envVar, formatEnvHelp, LOG_LEVELS, type LogLevel } from '@cirrusmq/client/protocol';

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
  /** The process server answers the hot routes itself, without Hono (hot-routes.ts); off: Hono serves all. */
  hotRoutes: boolean;
  /** With hotRoutes: the listening socket reads the hot routes' requests itself, node:http serves the rest (front/front-server.ts). */
  frontServer: boolean;
  logLevel: LogLevel;
}

const { str, int, port, oneOf, bool } = envVar;

/** Every variable the gateway reads: loadGatewayConfig and `--help` (gatewayHelp) both use this table. */
export const GATEWAY_ENV = {
  host: str('CIRRUSMQ_GATEWAY_HOST', '127.0.0.1', { description: 'listen host' }),
  port: port('CIRRUSMQ_GATEWAY_PORT', 8080, { description: 'listen port (0 = any free port)', allowZero: true }),
  nameServerAddr: str('CIRRUSMQ_NAMESRV_ADDR', '127.0.0.1:9876', { description: 'the NameServer, host:port' }),
  sendTimeoutMs: int('CIRRUSMQ_SEND_TIMEOUT_MS', 3000, 1, 600_000, { description: 'budget of one send, retries included' }),
  routeTtlMs: int('CIRRUSMQ_ROUTE_TTL_MS', 30_000, 0, 3_600_000, { description: 'route cache lifetime' }),
  retryTimes: int('CIRRUSMQ_RETRY_TIMES_WHEN_SEND_FAILED', 2, 0, 16, { description: 'retries on another broker' }),
  maxInflightPerTopic: int('CIRRUSMQ_MAX_INFLIGHT_PER_TOPIC', 2, 1, 1024, { description: 'broker requests of a topic in flight before batches merge' }),
  hotRoutes: bool('CIRRUSMQ_GATEWAY_HOT_ROUTES', true, { description: 'serve send, receive and ack without Hono (same answers, less CPU)' }),
  frontServer: bool('CIRRUSMQ_GATEWAY_FRONT_SERVER', true, {
    description: 'with hot routes on: read their HTTP requests without node:http (same answers, less CPU); node:http serves the rest',
  }),
  logLevel: oneOf('CIRRUSMQ_LOG_LEVEL', LOG_LEVELS, 'info', { description: 'log level' }),
};

/** `--help` of functions/gateway/src/main.ts, from GATEWAY_ENV. */
export function gatewayHelp(): string {
  return `CirrusMQ gateway (the HTTP API): node --import tsx functions/gateway/src/main.ts

Environment:
${formatEnvHelp(Object.values(GATEWAY_ENV))}
`;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const V = GATEWAY_ENV;
  const config: GatewayConfig = {
    host: r.str(V.host),
    port: r.int(V.port),
    nameServerAddr: r.str(V.nameServerAddr),
    sendTimeoutMs: r.int(V.sendTimeoutMs),
    routeTtlMs: r.int(V.routeTtlMs),
    retryTimesWhenSendFailed: r.int(V.retryTimes),
    maxInflightPerTopic: r.int(V.maxInflightPerTopic),
    hotRoutes: r.bool(V.hotRoutes),
    frontServer: r.bool(V.frontServer),
    logLevel: r.oneOf(V.logLevel),
  };
  r.done('gateway');
  return config;
}
