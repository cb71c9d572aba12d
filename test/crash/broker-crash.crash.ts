/**
 * npm run test:crash (CRASH_ROUNDS=N, default 5): the broker crash scenario over several
 * rounds; see broker-crash-scenario.ts. SIGKILL runs: SYNC_FLUSH on the same disk; and
 * durability `s3` with the store folder wiped after every kill, on the local tier folder and
 * on S3 (moto_server). Power-loss runs (each kill also drops every byte no completed fsync
 * covered): SYNC_FLUSH keeps every acknowledged message, and ASYNC_FLUSH is caught losing
 * some, which shows the first run could fail; durability s3 keeps every acknowledged message (the
 * disk comes back behind the write-ahead log and restores itself), and ASYNC_FLUSH keeps every
 * message its local tier held (the disk comes back behind the tier and restores itself).
 */
import { describe, expect, inject, it } from 'vitest';
import { createMotoTier } from '../support/tier-on-moto';
import { runBrokerCrashScenario } from './broker-crash-scenario';
import { expectRoundsWithinBounds } from './crash-bounds';

const rounds = Number(process.env.CRASH_ROUNDS ?? 5);
const moto = inject('motoEndpoint');
const log = (l: string) => console.log(l);

describe('broker crash (SIGKILL)', () => {
  it(`SYNC_FLUSH keeps every acknowledged message across ${rounds} kill -9 rounds`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, log });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
    expectRoundsWithinBounds(report, 6);
  });

  it(`durability s3 keeps every acknowledged message across ${rounds} kill -9 rounds that also wipe the disk (local tier)`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, durability: 's3', wipeStore: true, log });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
    expectRoundsWithinBounds(report, 6);
  });

  it.skipIf(!moto)(`durability s3 keeps every acknowledged message across ${rounds} kill -9 rounds that also wipe the disk (S3 on moto_server)`, async () => {
    const tier = await createMotoTier(moto);
    const report = await runBrokerCrashScenario({ rounds, producers: 6, durability: 's3', wipeStore: true, brokerEnv: tier.brokerEnv(), log });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(rounds * 50);
    expectRoundsWithinBounds(report, 6);
  });
});

describe('broker crash (power loss: SIGKILL, then only synced bytes stay)', () => {
  it(`SYNC_FLUSH keeps every acknowledged message across ${rounds} power losses`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, powerLoss: true, log });
    expect(report.problems).toEqual([]);
    expect(report.lost).toBe(0);
    expect(report.acked).toBeGreaterThan(rounds * 50);
    expectRoundsWithinBounds(report, 6);
  });

  it(`ASYNC_FLUSH (fdatasync every 60 s) is caught losing acknowledged messages in each of ${rounds} power losses`, async () => {
    const report = await runBrokerCrashScenario({
      rounds,
      producers: 6,
      powerLoss: true,
      lossExpected: true,
      durability: 'async',
      brokerEnv: { CIRRUSMQ_FLUSH_INTERVAL_MS: '60000' },
      log,
    });
    // Every period ended by a power loss loses some of its acks (none was synced); the last period had no crash.
    report.periods.slice(0, rounds).forEach((p, i) => expect(p.lost, `period ${i}`).toBeGreaterThan(0));
    expect(report.structuralProblems).toEqual([]);
    expectRoundsWithinBounds(report, 6, 'async');
  });

  // Acks wait for the write-ahead chunk, not fdatasync: the disk comes back behind it, and the broker restores by itself.
  it(`durability s3 keeps every acknowledged message across ${rounds} power losses (local tier)`, async () => {
    const report = await runBrokerCrashScenario({ rounds, producers: 6, powerLoss: true, durability: 's3', log });
    expect(report.problems).toEqual([]);
    expect(report.lost).toBe(0);
    expect(report.acked).toBeGreaterThan(rounds * 50);
    expectRoundsWithinBounds(report, 6, 's3');
  });

  // Sealed segments are tiered from the page cache: the disk comes back behind the tier. Acks may be lost, as ASYNC allows;
  // a tiered message may not, nor may its offsets be given again.
  it(`ASYNC_FLUSH with a local tier keeps every tiered message across ${rounds} power losses`, async () => {
    const report = await runBrokerCrashScenario({
      rounds,
      producers: 6,
      runMs: [1000, 2500],
      powerLoss: true,
      lossExpected: true,
      durability: 'async',
      awaitTieredPerRound: 51,
      brokerEnv: { CIRRUSMQ_FLUSH_INTERVAL_MS: '60000' },
      log,
    });
    expect(report.tieredChecked).toBeGreaterThan(rounds * 50);
    expect(report.structuralProblems).toEqual([]);
    expectRoundsWithinBounds(report, 6, 'async');
  });
});
