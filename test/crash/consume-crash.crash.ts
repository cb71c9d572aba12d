/**
 * npm run test:crash (CRASH_ROUNDS=N, default 5): consumers of one group receive and ack while
 * producers send and the broker is killed; see consume-crash-scenario.ts. Every producer-acked
 * message reaches the group, and no message whose ack answered OK comes back: SYNC_FLUSH and
 * ASYNC_FLUSH under SIGKILL (the page cache survives a process kill), and SYNC_FLUSH under a
 * power loss (only fsynced bytes stay; acks wait for the journal's fdatasync).
 */
import { describe, expect, it } from 'vitest';
import { runConsumeCrashScenario } from './consume-crash-scenario';

const rounds = Number(process.env.CRASH_ROUNDS ?? 5);
const log = (l: string) => console.log(l);

describe('consume crash: POP and ack while the broker is killed', () => {
  it.each([{ durability: 'sync' as const }, { durability: 'async' as const }])(
    `$durability: every produced message delivered, none acked redelivered, across ${rounds} kill -9 rounds`,
    async ({ durability }) => {
      const r = await runConsumeCrashScenario({ rounds, durability, log });
      expect(r.produced).toBeGreaterThan(rounds * 50);
      expect(r.missing).toBe(0);
      expect(r.redeliveredAfterAck).toBe(0);
      r.ackedPerPeriod.forEach((n, i) => expect(n, `acks in period ${i}`).toBeGreaterThan(0));
    },
  );

  it('SYNC_FLUSH under a power loss: every produced message delivered, none acked redelivered', async () => {
    const r = await runConsumeCrashScenario({ rounds: Math.min(rounds, 2), durability: 'sync', powerLoss: true, log });
    expect(r.produced).toBeGreaterThan(50);
    expect(r.missing).toBe(0);
    expect(r.redeliveredAfterAck).toBe(0);
    r.ackedPerPeriod.forEach((n, i) => expect(n, `acks in period ${i}`).toBeGreaterThan(0));
  });
});
