/** One round of each broker crash scenario (test/crash/broker-crash-scenario.ts) in npm test. */
import { describe, expect, it } from 'vitest';
import { runBrokerCrashScenario } from '../crash/broker-crash-scenario';

describe('broker crash, one round', () => {
  it('keeps every acknowledged message across a kill -9 of a SYNC_FLUSH broker', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [500, 1000] });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(50);
  }, 60_000);

  it('keeps every acknowledged message across a kill -9 and a wiped disk with durability s3', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [1500, 2500], durability: 's3', wipeStore: true });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(50);
  }, 60_000);
});
