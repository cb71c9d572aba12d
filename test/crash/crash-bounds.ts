/**
 * The bounds every crash round must keep, beside what it checks of the data: the broker came
 * back writable, and sends failed only where a crash explains it.
 */
import { expect } from 'vitest';
import type { CrashScenarioReport } from './broker-crash-scenario';

export function expectRoundsWithinBounds(report: CrashScenarioReport, producers: number): void {
  report.periods.forEach((p, i) => {
    const where = `period ${i}: ${JSON.stringify(p)}`;
    // A send started after each restart was acknowledged: the broker is back and writable.
    expect(p.acked, where).toBeGreaterThan(0);
    // Each producer has one batch in flight when the kill comes.
    expect(p.failedAtKill, where).toBeLessThanOrEqual(producers);
    // With the broker up a send fails only by its 3 s timeout on a loaded machine: rare, at most once per producer.
    expect(p.failedWhileUp, where).toBeLessThanOrEqual(producers);
  });
  // FLUSH_DISK_TIMEOUT means an fdatasync took over the 5 s syncFlushTimeoutMs: rare even on a loaded machine, and never without SYNC_FLUSH.
  expect(report.flushDiskTimeouts).toBeLessThanOrEqual(Math.floor(report.acked / 100));
}
