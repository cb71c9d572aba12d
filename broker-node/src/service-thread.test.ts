import { silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ServiceThread } from './service-thread';

/** Counts passes; a pass can be held open to test wakeups and shutdown during it. */
class CountingService extends ServiceThread {
  passes = 0;
  hold: Promise<void> | undefined;
  constructor(private readonly intervalMs: number) {
    super(silentLogger);
  }
  getServiceName(): string {
    return 'CountingService';
  }
  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForRunning(this.intervalMs, signal);
      if (signal.aborted) return;
      this.passes++;
      await this.hold;
    }
  }
}

describe('ServiceThread', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs one pass per interval, not before', async () => {
    const s = new CountingService(1_000);
    s.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(s.passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.passes).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(s.passes).toBe(4);
    await s.shutdown();
  });

  it('wakeup ends the wait at once and the interval starts again after the pass', async () => {
    const s = new CountingService(1_000);
    s.start();
    await vi.advanceTimersByTimeAsync(500);
    s.wakeup();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.passes).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(s.passes).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.passes).toBe(2);
    await s.shutdown();
  });

  it('a wakeup during a pass runs the next pass right after it; several count as one', async () => {
    const s = new CountingService(1_000);
    let release!: () => void;
    s.hold = new Promise((r) => (release = r));
    s.start();
    s.wakeup();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.passes).toBe(1);
    s.wakeup();
    s.wakeup();
    s.hold = undefined;
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.passes).toBe(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(s.passes).toBe(2);
    await s.shutdown();
  });

  it('shutdown ends the wait at once, and waits for the pass in flight', async () => {
    const idle = new CountingService(60_000);
    idle.start();
    let done = false;
    void idle.shutdown().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(idle.passes).toBe(0);

    const busy = new CountingService(1_000);
    let release!: () => void;
    busy.hold = new Promise((r) => (release = r));
    busy.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(busy.passes).toBe(1);
    let stopped = false;
    void busy.shutdown().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(stopped).toBe(false);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(true);
    expect(busy.passes).toBe(1);
    expect(busy.isStopped()).toBe(true);
  });

  it('after shutdown a wakeup runs nothing; start runs it again', async () => {
    const s = new CountingService(1_000);
    s.start();
    await s.shutdown();
    s.wakeup();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.passes).toBe(0);
    s.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.passes).toBe(1);
    await s.shutdown();
  });
});
