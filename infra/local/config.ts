/** The local cluster's layout (npm start): the only reader of process.env for the launcher. */
import path from 'node:path';
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
  brokers: LocalBrokerSpec[];
  /** Extra environment for every process (segment sizes, heartbeat intervals in tests...). */
  env: Record<string, string>;
}

export function loadLocalClusterConfig(env: NodeJS.ProcessEnv = process.env): LocalClusterConfig {
  return {
    dataDir: path.resolve(env.CIRRUSMQ_DATA_DIR ?? '.cirrusmq-data'),
    host: env.CIRRUSMQ_HOST ?? '127.0.0.1',
    clusterName: env.CIRRUSMQ_CLUSTER ?? 'DefaultCluster',
    nameServerPort: port(env, 'CIRRUSMQ_NAMESRV_PORT', 9876),
    gatewayPort: port(env, 'CIRRUSMQ_GATEWAY_PORT', 8080),
    brokers: parseBrokers(env.CIRRUSMQ_BROKERS ?? 'broker-a:10911,broker-b:10921'),
    env: {},
  };
}

export interface LauncherOptions {
  /** Restart a process that exits unexpectedly (with backoff). On unless CIRRUSMQ_AUTO_RESTART=0. */
  autoRestart: boolean;
  restartPolicy: RestartPolicy;
}

export function loadLauncherOptions(env: NodeJS.ProcessEnv = process.env): LauncherOptions {
  const raw = (env.CIRRUSMQ_AUTO_RESTART ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'true', 'false', 'on', 'off'].includes(raw)) throw new Error(`CIRRUSMQ_AUTO_RESTART must be 1 or 0, got "${raw}"`);
  const initialDelayMs = int(env, 'CIRRUSMQ_RESTART_DELAY_MS', DEFAULT_RESTART_POLICY.initialDelayMs, 0, 60_000);
  return {
    autoRestart: !['0', 'false', 'off'].includes(raw),
    restartPolicy: { ...DEFAULT_RESTART_POLICY, initialDelayMs, maxDelayMs: Math.max(initialDelayMs, DEFAULT_RESTART_POLICY.maxDelayMs) },
  };
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

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a port number, got "${raw}"`);
  return n;
}
