/** A CirrusMQ process (NameServer, broker) started from its TypeScript entry, for process-level tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../infra/local/wait-for';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A child process with its log in `{dataDir}/logs/{name}.log`. */
export class Proc {
  child: ChildProcess | undefined;
  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: Record<string, string>,
    private readonly healthUrl: string,
    private readonly logFile: string,
  ) {}

  async start(): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', this.entry], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.child = child;
    await waitFor(`${this.name} healthy`, 30_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name} exited while starting; see ${this.logFile}`);
      return (await fetch(this.healthUrl)).ok;
    });
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(force);
  }
}
