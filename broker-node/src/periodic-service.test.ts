import { createLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeriodicService } from './periodic-service';

describe('PeriodicService', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs its pass once per interval; a pass that throws is logged and the next runs on time', async () => {
    const lines: string[] = [];
    let passes = 0;
    const s = new PeriodicService(
      'Flaky',
      100,
      async () => {
        passes++;
        if (passes === 1) throw new Error('boom');
      },
      createLogger({}, 'info', (l) => lines.push(l)),
    );
    s.start();
    await vi.advanceTimersByTimeAsync(99);
    expect(passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toBe(1);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } })).toMatchObject([
      { msg: 'Flaky: pass failed', err: { message: 'boom' } },
    ]);
    await vi.advanceTimersByTimeAsync(200);
    expect(passes).toBe(3);
    expect(s.isStopped()).toBe(false);
    await s.shutdown();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toBe(3);
  });
});
