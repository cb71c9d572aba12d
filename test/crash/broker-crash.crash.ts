/**
 * npm run test:crash (CRASH_ROUNDS=N, default 5): the broker crash scenario over several
 * SIGKILL rounds; see broker-crash-scenario.ts. Three runs: SYNC_FLUSH on the same disk; and
 * durability `s3` with the store folder wiped after every kill, on the local tier folder and
 * on S3 (moto_server).
 */
import { describe, expect, inject, it } from 'vitest';
import { createMotoTier } from '../support/tier-on-moto';
import { runBrokerCrashScenario } from './broker-crash-scenario';

const rounds = Number(process.env.CRASH_ROUNDS ?? 5);
const moto = inject('motoEndpoint');

describe('broker crash (SIGKILL)', () => {
  it(`SYNC_FLUSH keeps every acknowledged message across ${rounds} kill -9 rounds`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, log: (l) => console.log(l) });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
  });

  it(`durability s3 keeps every acknowledged message across ${rounds} kill -9 rounds that also wipe the disk (local tier)`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, durability: 's3', wipeStore: true, log: (l) => console.log(l) });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
  });

  it.skipIf(!moto)(`durability s3 keeps every acknowledged message across ${rounds} kill -9 rounds that also wipe the disk (S3 on moto_server)`, async () => {
    const tier = await createMotoTier(moto);
    const report = await runBrokerCrashScenario({ rounds, producers: 6, durability: 's3', wipeStore: true, brokerEnv: tier.brokerEnv(), log: (l) => console.log(l) });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
  });
});
