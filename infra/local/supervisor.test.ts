/**
 * The supervisor's decisions (report, backoff, give-up, stop) over a stand-in for the cluster;
 * test/e2e/launcher.test.ts runs it against real processes.
 */
import { describe, expect, it, vi } from 'vitest';
import { waitFor } from './wait-for';
import { Supervisor, type SupervisedProcesses } from './supervisor';

function fakeProcs(startResults: ('ok' | 'exit')[]) {
  const starts: string[] = [];
  const downs: string[] = [];
  let running = false;
  const procs: SupervisedProcesses = {
    async startProcess(name) {
      starts.push(name);
      const r = startResults.shift() ?? 'ok';
      if (r === 'exit') throw new Error(`${name} exited (1) while starting`);
      running = true;
    },
    isRunning: () => running,
    pid: () => 4242,
    logFile: (name) => `/logs/${name}.log`,
    async onDown(name) {
      downs.push(name);
    },
  };
  return { procs, starts, downs };
}

const policy = { initialDelayMs: 1, maxDelayMs: 4, stableAfterMs: 60_000, maxRapidRestarts: 2 };

describe('Supervisor', () => {
  it('reports an exit at once with pid, signal and log, marks it down, restarts it, and says it is back', async () => {
    const lines: string[] = [];
    const { procs, starts, downs } = fakeProcs(['ok']);
    const sup = new Supervisor(procs, (l) => lines.push(l), policy);
    sup.exited('broker-a', { pid: 7, code: null, signal: 'SIGKILL', healthyAt: Date.now() });
    expect(lines).toEqual(['[supervisor] broker-a (pid 7) exited unexpectedly (signal SIGKILL); log: /logs/broker-a.log; restarting in 0 s (try 1)']);
    await waitFor('restart', 5_000, async () => lines.length === 2);
    expect(downs).toEqual(['broker-a']);
    expect(starts).toEqual(['broker-a']);
    expect(lines[1]).toBe('[supervisor] broker-a is back (pid 4242)');
  });

  it('gives up loudly after maxRapidRestarts quick failures', () => {
    const lines: string[] = [];
    const sup = new Supervisor(fakeProcs([]).procs, (l) => lines.push(l), policy);
    for (let i = 0; i < 3; i++) sup.exited('nameserver', { pid: i, code: 1, signal: null, healthyAt: undefined });
    sup.close();
    expect(lines[0]).toContain('exited unexpectedly (code 1)');
    expect(lines[1]).toContain('(try 2)');
    expect(lines[2]).toMatch(/failed 2 restarts in a row: giving up on nameserver; the rest of the cluster keeps running/);
  });

  it('restarts nothing once closed (the cluster is stopping)', async () => {
    const lines: string[] = [];
    const { procs, starts } = fakeProcs(['ok']);
    vi.useFakeTimers();
    try {
      const sup = new Supervisor(procs, (l) => lines.push(l), { ...policy, initialDelayMs: 50 });
      sup.exited('gateway', { pid: 1, code: 0, signal: null, healthyAt: undefined });
      sup.close();
      sup.exited('gateway', { pid: 2, code: 0, signal: null, healthyAt: undefined });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(starts).toEqual([]);
      expect(lines).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
