/**
 * npm run test:crash (CRASH_ROUNDS=N, default 5): the broker crash scenario over several
 * SIGKILL rounds; see broker-crash-scenario.ts.
 */
import { describe, expect, it } from 'vitest';
import { runBrokerCrashScenario } from './broker-crash-scenario';

const rounds = Number(process.env.CRASH_ROUNDS ?? 5);

describe('broker crash (SYNC_FLUSH, SIGKILL)', () => {
  it(`keeps every acknowledged message across ${rounds} kill -9 rounds`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, log: (l) => console.log(l) });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
  });
});
