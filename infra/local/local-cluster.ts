/**
 * Runs the whole cluster as real processes on one machine: the NameServer, the brokers and
 * the gateway, each `node --import tsx <entry>`. Used by `npm start` and by the end-to-end
 * tests, which kill and restart its processes. Each process logs JSON lines to
 * {dataDir}/logs/{name}.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalClusterConfig } from './config';
import { waitFor } from './wait-for';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRIES = {
  nameserver: 'functions/nameserver/src/main.ts',
  broker: 'broker-node/src/main.ts',
  gateway: 'functions/gateway/src/main.ts',
} as const;

interface ProcessSpec {
  name: string;
  entry: string;
  env: Record<string, string>;
  healthUrl: string;
}

export class LocalCluster {
  private readonly specs = new Map<string, ProcessSpec>();
  private readonly running = new Map<string, ChildProcess>();

  constructor(readonly config: LocalClusterConfig) {
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
  }

  get nameServerUrl(): string {
    return `http://${this.config.host}:${this.config.nameServerPort}`;
  }

  get gatewayUrl(): string {
    return `http://${this.config.host}:${this.config.gatewayPort}`;
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
    await this.startProcess('gateway');
  }

  async startProcess(name: string): Promise<void> {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`no process named ${name}`);
    if (this.running.has(name)) throw new Error(`${name} is already running`);
    const log = fs.openSync(this.logFile(name), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', spec.entry], {
      cwd: ROOT,
      env: { ...process.env, ...this.config.env, ...spec.env },
      stdio: ['ignore', log, log],
      // Its own process group: a terminal's Ctrl-C reaches only the launcher, which then
      // stops the processes in order (brokers must unregister before the NameServer goes).
      detached: true,
    });
    fs.closeSync(log);
    this.running.set(name, child);
    child.once('exit', () => {
      if (this.running.get(name) === child) this.running.delete(name);
    });
    await this.waitHealthy(name, child);
  }

  /** Sends a signal and waits for the process to exit. */
  async stopProcess(name: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    const child = this.running.get(name);
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  async restartProcess(name: string): Promise<void> {
    await this.stopProcess(name);
    await this.startProcess(name);
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  /** Stops the gateway first, then the brokers (they flush and unregister), then the NameServer. */
  async stop(): Promise<void> {
    await this.stopProcess('gateway');
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

  private async waitHealthy(name: string, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
    const spec = this.specs.get(name)!;
    await waitFor(`${name} healthy`, timeoutMs, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting; see ${this.logFile(name)}`);
      }
      const res = await fetch(spec.healthUrl);
      return res.ok;
    });
  }
}
