/** The local cluster's layout (npm start): the only reader of process.env for the launcher. */
import path from 'node:path';
import { type Env, EnvReader, envVar, formatEnvHelp } from '@cirrusmq/client/protocol';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-backoff';

export interface LocalBrokerSpec {
  brokerName: string;
  port: number;
}

export interface LocalClusterConfig {
  dataDir: string;
  host: string;
  clusterName: string;
  nameServerPort: number;
  gatewayPort: number;
  /** The RocketMQ 5 gRPC proxy's port and its HTTP /healthz port; unset = no proxy (CIRRUSMQ_GRPC_PROXY_PORT=0). */
  grpcProxy?: { port: number; healthPort: number };
  brokers: LocalBrokerSpec[];
  /** Extra environment for every process (segment sizes, heartbeat intervals in tests...). */
  env: Record<string, string>;
}

const { str, int, port, bool } = envVar;

/** Every variable the launcher reads: the loaders below and `npm start -- --help` (launcherHelp) both use this table. */
export const LAUNCHER_ENV = {
  dataDir: str('CIRRUSMQ_DATA_DIR', '.cirrusmq-data', { description: 'data and logs' }),
  host: str('CIRRUSMQ_HOST', '127.0.0.1', { description: 'host every process listens on and advertises' }),
  nameServerPort: port('CIRRUSMQ_NAMESRV_PORT', 9876, { description: 'NameServer port' }),
  brokers: str('CIRRUSMQ_BROKERS', 'broker-a:10911,broker-b:10921', { description: 'brokers as name:port,...' }),
  gatewayPort: port('CIRRUSMQ_GATEWAY_PORT', 8080, { description: 'gateway port' }),
  grpcProxyPort: port('CIRRUSMQ_GRPC_PROXY_PORT', 8081, { description: 'gRPC proxy port (RocketMQ 5 clients; 0 = no proxy)', allowZero: true }),
  grpcProxyHealthPort: port('CIRRUSMQ_GRPC_PROXY_HEALTH_PORT', 8082, { description: 'gRPC proxy health port (HTTP GET /healthz)' }),
  clusterName: str('CIRRUSMQ_CLUSTER', 'DefaultCluster', { description: 'cluster name' }),
  autoRestart: bool('CIRRUSMQ_AUTO_RESTART', true, { description: 'restart a process that exits unexpectedly, with backoff' }),
  restartDelayMs: int('CIRRUSMQ_RESTART_DELAY_MS', DEFAULT_RESTART_POLICY.initialDelayMs, 0, 60_000, {
    description: `first restart delay, doubled per quick failure up to ${DEFAULT_RESTART_POLICY.maxDelayMs / 1000} s`,
  }),
  awsEndpoint: str('AWS_ENDPOINT_URL', undefined, { description: 'run the NameServer on DynamoDB there (LocalStack, moto_server)' }),
};

export function loadLocalClusterConfig(env: Env = process.env): LocalClusterConfig {
  const r = new EnvReader(env);
  const V = LAUNCHER_ENV;
  const brokersSpec = r.str(V.brokers);
  let brokers: LocalBrokerSpec[] = [];
  try {
    brokers = parseBrokers(brokersSpec);
  } catch (e) {
    r.problem((e as Error).message, V.brokers.name);
  }
  const config: LocalClusterConfig = {
    dataDir: path.resolve(r.str(V.dataDir)),
    host: r.str(V.host),
    clusterName: r.str(V.clusterName),
    nameServerPort: r.int(V.nameServerPort),
    gatewayPort: r.int(V.gatewayPort),
    grpcProxy: undefined,
    brokers,
    env: {},
  };
  const grpcProxyPort = r.int(V.grpcProxyPort);
  const grpcProxyHealthPort = r.int(V.grpcProxyHealthPort);
  if (grpcProxyPort !== 0) config.grpcProxy = { port: grpcProxyPort, healthPort: grpcProxyHealthPort };
  r.done('launcher');
  return config;
}

export interface LauncherOptions {
  /** Restart a process that exits unexpectedly (with backoff). On unless CIRRUSMQ_AUTO_RESTART=0. */
  autoRestart: boolean;
  restartPolicy: RestartPolicy;
  /** The NameServer's DynamoDB endpoint, when set (the children inherit it; the banner names it). */
  awsEndpoint?: string;
}

export function loadLauncherOptions(env: Env = process.env): LauncherOptions {
  const r = new EnvReader(env);
  const V = LAUNCHER_ENV;
  const autoRestart = r.bool(V.autoRestart);
  const initialDelayMs = r.int(V.restartDelayMs);
  const awsEndpoint = r.str(V.awsEndpoint);
  r.done('launcher');
  return {
    autoRestart,
    restartPolicy: { ...DEFAULT_RESTART_POLICY, initialDelayMs, maxDelayMs: Math.max(initialDelayMs, DEFAULT_RESTART_POLICY.maxDelayMs) },
    awsEndpoint,
  };
}

/** `npm start -- --help`, from LAUNCHER_ENV. */
export function launcherHelp(): string {
  return `npm start: the whole CirrusMQ cluster on this machine (NameServer, brokers, gateway, gRPC proxy)

Environment:
${formatEnvHelp(Object.values(LAUNCHER_ENV))}
Every process also reads its own variables: see README.md, or run its entry with --help.
Ctrl-C, SIGTERM and SIGHUP stop the cluster: gRPC proxy and gateway, brokers (flush, unregister), NameServer.
`;
}

/** "broker-a:10911,broker-b:10921" */
export function parseBrokers(spec: string): LocalBrokerSpec[] {
  const brokers = spec.split(',').map((part) => {
    const m = /^([a-zA-Z0-9_-]+):(\d{1,5})$/.exec(part.trim());
    if (!m) throw new Error(`CIRRUSMQ_BROKERS entries must look like broker-a:10911, got "${part}"`);
    return { brokerName: m[1]!, port: Number(m[2]) };
  });
  if (brokers.length === 0) throw new Error('CIRRUSMQ_BROKERS names no broker');
  return brokers;
}
