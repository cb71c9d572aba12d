/**
 * Restarts the cluster's processes that exit unexpectedly, as supervisord would: a report line
 * at once (name, pid, exit code or signal, log file), a restart after a backoff delay, and a
 * loud give-up after too many quick failures. A restart that fails (say the old broker's store
 * lock is not released yet) is just another quick exit: the backoff spaces the tries.
 */
import { RestartBackoff, type RestartPolicy } from './restart-backoff';

export interface SupervisedProcesses {
  /** Spawns the process and resolves once it answers its health check as itself. */
  startProcess(name: string): Promise<void>;
  isRunning(name: string): boolean;
  pid(name: string): number | undefined;
  logFile(name: string): string;
  /** Runs right after the report, before the restart: the NameServer learns a broker is gone. */
  onDown(name: string): Promise<void>;
}

export interface ExitFacts {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the process first answered its health check; undefined when it never did. */
  healthyAt: number | undefined;
}

export class Supervisor {
  private readonly backoffs = new Map<string, RestartBackoff>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly procs: SupervisedProcesses,
    private readonly report: (line: string) => void,
    private readonly policy?: RestartPolicy,
  ) {}

  /** Called for every exit the cluster did not ask for. */
  exited(name: string, facts: ExitFacts): void {
    if (this.closed) return;
    let backoff = this.backoffs.get(name);
    if (!backoff) this.backoffs.set(name, (backoff = new RestartBackoff(this.policy)));
    const delay = backoff.nextDelay(facts.healthyAt, Date.now());
    const how = facts.signal ? `signal ${facts.signal}` : `code ${facts.code}`;
    const what = `${name} (pid ${facts.pid ?? '?'}) exited unexpectedly (${how}); log: ${this.procs.logFile(name)}`;
    if (delay === undefined) {
      this.report(
        `[supervisor] ${what}. It failed ${backoff.failures - 1} restarts in a row: giving up on ${name}; the rest of the cluster keeps running. Fix the cause and start the cluster again.`,
      );
    } else {
      this.report(`[supervisor] ${what}; restarting in ${formatSeconds(delay)} (try ${backoff.failures})`);
    }
    const down = this.procs.onDown(name).catch((e: unknown) => {
      this.report(`[supervisor] could not mark ${name} down at the NameServer: ${e instanceof Error ? e.message : String(e)}`);
    });
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void down.then(() => this.restart(name));
    }, delay);
    this.timers.add(timer);
  }

  /** Stops restarting: the cluster is being stopped on purpose. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async restart(name: string): Promise<void> {
    if (this.closed || this.procs.isRunning(name)) return;
    try {
      await this.procs.startProcess(name);
      if (!this.closed) this.report(`[supervisor] ${name} is back (pid ${this.procs.pid(name)})`);
    } catch (e) {
      // An exit while starting was reported by exited() and scheduled again; only a process
      // that runs but does not answer its health check yet is worth a line of its own.
      if (!this.closed && this.procs.isRunning(name)) {
        this.report(`[supervisor] ${name} restarted but is not healthy yet: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
