/** One round of each broker crash scenario (test/crash/broker-crash-scenario.ts) in npm test. */
import { describe, expect, it } from 'vitest';
import { runBrokerCrashScenario } from '../crash/broker-crash-scenario';
import { expectRoundsWithinBounds } from '../crash/crash-bounds';

describe('broker crash, one round', () => {
  it('keeps every acknowledged message across a kill -9 of a SYNC_FLUSH broker', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [500, 1000] });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(50);
    expectRoundsWithinBounds(report, 4);
  }, 60_000);

  it('keeps every acknowledged message across a kill -9 and a wiped disk with durability s3', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [1500, 2500], durability: 's3', wipeStore: true });
    expect(report.problems).toEqual([]);
    expect(report.acked).toBeGreaterThan(50);
    expectRoundsWithinBounds(report, 4);
  }, 60_000);

  it('keeps every acknowledged message across a power loss of a SYNC_FLUSH broker', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [500, 1000], powerLoss: true });
    expect(report.problems).toEqual([]);
    expect(report.lost).toBe(0);
    expect(report.acked).toBeGreaterThan(50);
    expectRoundsWithinBounds(report, 4);
  }, 60_000);

  // The harness can fail: the same round with acks before any fdatasync must be caught losing some.
  it('catches an ASYNC_FLUSH broker losing acknowledged messages across a power loss', async () => {
    const report = await runBrokerCrashScenario({
      rounds: 1,
      producers: 4,
      runMs: [500, 1000],
      powerLoss: true,
      lossExpected: true,
      durability: 'async',
      brokerEnv: { CIRRUSMQ_FLUSH_INTERVAL_MS: '60000' },
    });
    expect(report.lost).toBeGreaterThan(0);
    expect(report.periods[0]!.lost).toBeGreaterThan(0);
    // Behind, not corrupt: what recovery kept is a consistent store.
    expect(report.structuralProblems).toEqual([]);
    expectRoundsWithinBounds(report, 4, 'async');
  }, 60_000);

  // The disk comes back behind the write-ahead log (acks wait for the chunk, not fdatasync): the broker restores by itself.
  it('keeps every acknowledged message across a power loss with durability s3', async () => {
    const report = await runBrokerCrashScenario({ rounds: 1, producers: 4, runMs: [1000, 1500], powerLoss: true, durability: 's3' });
    expect(report.problems).toEqual([]);
    expect(report.lost).toBe(0);
    expect(report.acked).toBeGreaterThan(50);
    expectRoundsWithinBounds(report, 4, 's3');
  }, 60_000);

  // The disk comes back behind the local tier (segments tiered from the page cache): acks may be lost, tiered messages may not.
  it('keeps every tiered message of an ASYNC_FLUSH broker across a power loss, and gives none of their offsets again', async () => {
    const report = await runBrokerCrashScenario({
      rounds: 1,
      producers: 4,
      runMs: [1500, 2000],
      powerLoss: true,
      lossExpected: true,
      durability: 'async',
      awaitTieredPerRound: 1,
      brokerEnv: { CIRRUSMQ_FLUSH_INTERVAL_MS: '60000' },
    });
    expect(report.tieredChecked).toBeGreaterThan(0);
    expect(report.structuralProblems).toEqual([]);
    expectRoundsWithinBounds(report, 4, 'async');
  }, 60_000);
});
