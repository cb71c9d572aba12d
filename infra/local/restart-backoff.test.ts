import { describe, expect, it } from 'vitest';
import { RestartBackoff } from './restart-backoff';

const policy = { initialDelayMs: 500, maxDelayMs: 4_000, stableAfterMs: 30_000, maxRapidRestarts: 5 };

describe('RestartBackoff', () => {
  it('doubles the delay per quick failure up to the cap, then gives up', () => {
    const b = new RestartBackoff(policy);
    const delays = Array.from({ length: 6 }, () => b.nextDelay(undefined, 1_000));
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000, undefined]);
  });

  it('starts afresh after a process stayed healthy for stableAfterMs', () => {
    const b = new RestartBackoff(policy);
    expect(b.nextDelay(0, 1_000)).toBe(500);
    expect(b.nextDelay(1_000, 2_000)).toBe(1_000);
    expect(b.nextDelay(2_000, 2_000 + 29_999)).toBe(2_000);
    expect(b.nextDelay(40_000, 40_000 + 30_000)).toBe(500);
  });

  it('counts a process that never answered its health check as a quick failure, however long it ran', () => {
    const b = new RestartBackoff(policy);
    b.nextDelay(undefined, 0);
    expect(b.nextDelay(undefined, 10 * 60_000)).toBe(1_000);
  });
});
