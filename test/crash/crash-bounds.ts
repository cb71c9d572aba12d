/**
 * The bounds every crash round must keep, beside what it checks of the data: the broker came
 * back writable, and sends failed only where a crash explains it.
 */
import { expect } from 'vitest';
import type { CrashScenarioReport } from './broker-crash-scenario';

export function expectRoundsWithinBounds(report: CrashScenarioReport, producers: number, durability: 'sync' | 's3' | 'async' = 'sync'): void {
  report.periods.forEach((p, i) => {
    const where = `period ${i}: ${JSON.stringify(p)}`;
    // A send started after each restart was acknowledged: the broker is back and writable.
    expect(p.acked, where).toBeGreaterThan(0);
    // Each producer has one batch in flight when the kill comes.
    expect(p.failedAtKill, where).toBeLessThanOrEqual(producers);
    // With the broker up a send fails only by its 3 s timeout on a loaded machine: rare, at most once per producer.
    expect(p.failedWhileUp, where).toBeLessThanOrEqual(producers);
  });
  // FLUSH_DISK_TIMEOUT means an fdatasync took over the 5 s syncFlushTimeoutMs: rare even on a loaded machine (at most 1 %
  // of the acks), and never without SYNC_FLUSH (durability s3 answers FLUSH_S3_TIMEOUT, counted the same way).
  expect(report.flushDiskTimeouts).toBeLessThanOrEqual(durability === 'async' ? 0 : Math.floor(report.acked / 100));
}
