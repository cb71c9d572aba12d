/**
 * Runs the whole cluster as real processes on one machine: the NameServer, the brokers, the
 * gateway and the gRPC proxy, each `node --import tsx <entry>`. Used by `npm start` and by the end-to-end
 * tests, which kill and restart its processes. Each process logs JSON lines to
 * {dataDir}/logs/{name}.log.
 *
 * Each child gets an IPC channel it never uses for messages: the channel closes when the
 * launcher dies, even by SIGKILL, and each runtime's main.ts shuts down cleanly on that
 * 'disconnect'. Health checks compare the pid /healthz answers with the child's, so a process
 * of another cluster on the same port never passes for ours.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NameServerClient } from '@cirrusmq/client/protocol';
import type { LocalClusterConfig } from './config';
import { LauncherError } from './launcher-error';
import type { RestartPolicy } from './restart-backoff';
import { Supervisor } from './supervisor';
import { waitFor } from './wait-for';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRIES = {
  nameserver: 'functions/nameserver/src/main.ts',
  broker: 'broker-node/src/main.ts',
  gateway: 'functions/gateway/src/main.ts',
  grpcProxy: 'grpc-proxy/src/main.ts',
} as const;

interface ProcessSpec {
  name: string;
  entry: string;
  env: Record<string, string>;
  healthUrl: string;
}

export interface LocalClusterOptions {
  /**
   * Report and restart processes that exit unexpectedly (`npm start`). Off by default: the
   * end-to-end tests kill and restart processes themselves and need them to stay down.
   */
  supervise?: boolean;
  restartPolicy?: RestartPolicy;
  /** Where the supervisor's report lines go (the launcher's stdout). */
  report?: (line: string) => void;
}

/** A supervised restart may recover a large store: it gets longer than a first start to answer. */
const RESTART_HEALTH_TIMEOUT_MS = 300_000;

export class LocalCluster {
  private readonly specs = new Map<string, ProcessSpec>();
  private readonly running = new Map<string, ChildProcess>();
  /** When each running process first answered its health check. */
  private readonly healthyAt = new Map<string, number>();
  /** Processes being stopped on purpose: their exit is not reported. */
  private readonly stopping = new Set<string>();
  private readonly supervisor: Supervisor | undefined;
  /** Supervision starts once the whole cluster is up: a failed first start is an error, not a restart. */
  private supervising = false;

  constructor(
    readonly config: LocalClusterConfig,
    options: LocalClusterOptions = {},
  ) {
    if (options.supervise) {
      this.supervisor = new Supervisor(
        {
          startProcess: (name) => this.startProcess(name, RESTART_HEALTH_TIMEOUT_MS),
          isRunning: (name) => this.isRunning(name),
          pid: (name) => this.pid(name),
          logFile: (name) => this.logFile(name),
          onDown: (name) => this.markDown(name),
        },
        options.report ?? ((line) => process.stdout.write(line + '\n')),
        options.restartPolicy,
      );
    }
    // Detached children outlive a launcher that dies; do not leave them holding ports.
    process.once('exit', () => {
      for (const child of this.running.values()) child.kill('SIGKILL');
    });
    const { host, dataDir, clusterName } = config;
    const nameServerAddr = `${host}:${config.nameServerPort}`;
    this.add({
      name: 'nameserver',
      entry: ENTRIES.nameserver,
      env: { CIRRUSMQ_NAMESRV_HOST: host, CIRRUSMQ_NAMESRV_PORT: String(config.nameServerPort), CIRRUSMQ_DATA_DIR: dataDir },
      healthUrl: `http://${nameServerAddr}/healthz`,
    });
    for (const b of config.brokers) {
      this.add({
        name: b.brokerName,
        entry: ENTRIES.broker,
        env: {
          CIRRUSMQ_CLUSTER: clusterName,
          CIRRUSMQ_BROKER_NAME: b.brokerName,
          CIRRUSMQ_BROKER_HOST: host,
          CIRRUSMQ_BROKER_LISTEN_HOST: host,
          CIRRUSMQ_BROKER_PORT: String(b.port),
          CIRRUSMQ_NAMESRV_ADDR: nameServerAddr,
          CIRRUSMQ_STORE_DIR: path.join(dataDir, b.brokerName),
        },
        healthUrl: `http://${host}:${b.port}/healthz`,
      });
    }
    this.add({
      name: 'gateway',
      entry: ENTRIES.gateway,
      env: { CIRRUSMQ_GATEWAY_HOST: host, CIRRUSMQ_GATEWAY_PORT: String(config.gatewayPort), CIRRUSMQ_NAMESRV_ADDR: nameServerAddr },
      healthUrl: `http://${host}:${config.gatewayPort}/healthz`,
    });
    if (config.grpcProxy) {
      // gRPC needs HTTP/2, so the proxy answers /healthz on a plain HTTP port of its own.
      this.add({
        name: 'grpc-proxy',
        entry: ENTRIES.grpcProxy,
        env: {
          CIRRUSMQ_GRPC_PROXY_HOST: host,
          CIRRUSMQ_GRPC_PROXY_PORT: String(config.grpcProxy.port),
          CIRRUSMQ_GRPC_PROXY_HEALTH_PORT: String(config.grpcProxy.healthPort),
          CIRRUSMQ_NAMESRV_ADDR: nameServerAddr,
        },
        healthUrl: `http://${host}:${config.grpcProxy.healthPort}/healthz`,
      });
    }
  }

  get nameServerUrl(): string {
    return `http://${this.config.host}:${this.config.nameServerPort}`;
  }

  get gatewayUrl(): string {
    return `http://${this.config.host}:${this.config.gatewayPort}`;
  }

  /** "host:port" of the gRPC proxy, the `endpoints` of a RocketMQ 5 client; undefined when the cluster runs none. */
  get grpcProxyEndpoint(): string | undefined {
    return this.config.grpcProxy ? `${this.config.host}:${this.config.grpcProxy.port}` : undefined;
  }

  brokerUrl(brokerName: string): string {
    const b = this.config.brokers.find((x) => x.brokerName === brokerName);
    if (!b) throw new Error(`no broker ${brokerName}`);
    return `http://${this.config.host}:${b.port}`;
  }

  logFile(name: string): string {
    return path.join(this.config.dataDir, 'logs', `${name}.log`);
  }

  /** Starts everything in dependency order and waits until the brokers are registered. */
  async start(): Promise<void> {
    fs.mkdirSync(path.join(this.config.dataDir, 'logs'), { recursive: true });
    await this.startProcess('nameserver');
    await Promise.all(this.config.brokers.map((b) => this.startProcess(b.brokerName)));
    await this.waitForBrokers(this.config.brokers.map((b) => b.brokerName));
    await Promise.all([this.startProcess('gateway'), this.config.grpcProxy ? this.startProcess('grpc-proxy') : undefined]);
    this.supervising = true;
  }

  /** `healthTimeoutMs` bounds the wait for the process to answer /healthz as itself. */
  async startProcess(name: string, healthTimeoutMs = 20_000): Promise<void> {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`no process named ${name}`);
    if (this.running.has(name)) throw new Error(`${name} is already running`);
    const log = fs.openSync(this.logFile(name), 'a');
    // --initial-old-space-size=64: see docs/architecture.md, "Latency and V8's heap" (a mark-compact every ~200 ms under load without it).
    const child = spawn(process.execPath, ['--initial-old-space-size=64', '--conditions=cirrusmq-source', '--import', 'tsx', spec.entry], {
      cwd: ROOT,
      env: { ...process.env, ...this.config.env, ...spec.env },
      // 'ipc': the channel's close tells the child its launcher is gone (see the file comment).
      stdio: ['ignore', log, log, 'ipc'],
      // Its own process group: a terminal's Ctrl-C reaches only the launcher, which then
      // stops the processes in order (brokers must unregister before the NameServer goes).
      detached: true,
    });
    fs.closeSync(log);
    this.running.set(name, child);
    child.once('exit', (code, signal) => {
      if (this.running.get(name) !== child) return;
      this.running.delete(name);
      const healthyAt = this.healthyAt.get(name);
      this.healthyAt.delete(name);
      if (this.supervising && !this.stopping.has(name)) this.supervisor?.exited(name, { pid: child.pid, code, signal, healthyAt });
    });
    await this.waitHealthy(name, child, healthTimeoutMs);
    if (this.running.get(name) === child) this.healthyAt.set(name, Date.now());
  }

  /** Sends a signal and waits for the process to exit. */
  async stopProcess(name: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    const child = this.running.get(name);
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.stopping.add(name);
    try {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    } finally {
      this.stopping.delete(name);
    }
  }

  async restartProcess(name: string): Promise<void> {
    await this.stopProcess(name);
    await this.startProcess(name);
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  pid(name: string): number | undefined {
    return this.running.get(name)?.pid;
  }

  /** Stops the front doors first (gateway, gRPC proxy), then the brokers (they flush and unregister), then the NameServer. */
  async stop(): Promise<void> {
    this.supervising = false;
    this.supervisor?.close();
    await Promise.all([this.stopProcess('gateway'), this.stopProcess('grpc-proxy')]);
    await Promise.all(this.config.brokers.map((b) => this.stopProcess(b.brokerName)));
    await this.stopProcess('nameserver');
  }

  async waitForBrokers(brokerNames: string[], timeoutMs = 20_000): Promise<void> {
    await waitFor(`brokers ${brokerNames.join(', ')} registered`, timeoutMs, async () => {
      const res = await fetch(`${this.nameServerUrl}/v1/cluster`);
      if (!res.ok) return false;
      const { brokers } = (await res.json()) as { brokers: { brokerName: string; alive: boolean }[] };
      return brokerNames.every((n) => brokers.some((b) => b.brokerName === n && b.alive));
    });
  }

  private add(spec: ProcessSpec): void {
    this.specs.set(spec.name, spec);
  }

  /**
   * A broker that died is marked down at the NameServer at once, rather than after its heartbeat
   * timeout (120 s by default): the launcher re-registers it with a 1 ms timeout, which is what
   * the expiry would do later. It then lists as alive: false (until it registers again or the
   * sweep drops it) and routes leave it out, so producers stop being sent to it.
   */
  private async markDown(name: string): Promise<void> {
    const broker = this.config.brokers.find((b) => b.brokerName === name);
    if (!broker) return;
    const addr = `${this.config.host}:${broker.port}`;
    const ns = new NameServerClient(`${this.config.host}:${this.config.nameServerPort}`, { timeoutMs: 3_000 });
    try {
      const entries = await ns.getCluster();
      for (const b of entries.filter((e) => e.brokerName === name && e.addr === addr && e.alive)) {
        await ns.registerBroker({
          clusterName: b.cluster,
          brokerName: b.brokerName,
          brokerId: b.brokerId,
          brokerAddr: b.addr,
          startedAt: b.startedAt,
          heartbeatTimeoutMs: 1,
        });
      }
    } finally {
      ns.close();
    }
  }

  private async waitHealthy(name: string, child: ChildProcess, timeoutMs: number): Promise<void> {
    const spec = this.specs.get(name)!;
    let otherPid: unknown;
    await waitFor(`${name} healthy`, timeoutMs, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        const taken = otherPid === undefined ? '' : ` (its port answers as another process, pid ${String(otherPid)}: is a cluster already running?)`;
        // The log's tail goes into the error: tests delete their data folder, logs included.
        throw new LauncherError(
          'CHILD_EXITED',
          `${name} exited (${child.exitCode ?? child.signalCode}) while starting${taken}; see ${this.logFile(name)}, which ends:\n${logTail(this.logFile(name))}`,
        );
      }
      const res = await fetch(spec.healthUrl);
      if (!res.ok) {
        await res.body?.cancel();
        return false;
      }
      const body = (await res.json()) as { pid?: unknown };
      if (body.pid === child.pid) return true;
      otherPid = body.pid ?? 'unknown';
      return false;
    });
  }
}

/** The last lines of a log file (at most 4 KiB), or why it could not be read. */
function logTail(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 4096);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf
        .toString('utf8')
        .split('\n')
        .slice(length < size ? 1 : 0)
        .join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `(unreadable: ${e instanceof Error ? e.message : String(e)})`;
  }
}
