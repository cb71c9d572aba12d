import { describe, expect, it } from 'vitest';
import { FLUSH_WINDOW, StoreStatsService } from './store-stats-service';

describe('StoreStatsService', () => {
  it('reports the put rate over the last 10 s from one-second buckets', () => {
    let now = 1_000_000;
    const s = new StoreStatsService(() => now);
    now += 20_000; // running for a while
    for (let sec = 0; sec < 10; sec++) {
      s.recordPut(100, 100_000);
      now += 1000;
    }
    now -= 500; // mid-second: the last bucket is half a second old
    const rate = s.putRate();
    expect(rate.messagesPerSec).toBeCloseTo(1000 / 9.5, 5);
    expect(rate.bytesPerSec).toBeCloseTo(1_000_000 / 9.5, 5);
    expect(s.putMessagesTotal).toBe(1000);
    // Quiet for 20 s: the old buckets age out.
    now += 20_000;
    expect(s.putRate().messagesPerSec).toBe(0);
    expect(s.putBytesTotal).toBe(1_000_000);
  });

  it('keeps flush latency percentiles over a fixed window', () => {
    const s = new StoreStatsService();
    expect(s.flushLatencyStats()).toMatchObject({ flushTotal: 0, p50Ms: 0, p99Ms: 0 });
    for (let i = 1; i <= 100; i++) s.recordFlush(i);
    expect(s.flushLatencyStats()).toEqual({ flushTotal: 100, p50Ms: 50, p99Ms: 99, maxMs: 100, window: 100 });
    // The window holds the last FLUSH_WINDOW only: old slow flushes drop out.
    for (let i = 0; i < FLUSH_WINDOW; i++) s.recordFlush(1);
    expect(s.flushLatencyStats()).toMatchObject({ flushTotal: 100 + FLUSH_WINDOW, p50Ms: 1, p99Ms: 1, maxMs: 1, window: FLUSH_WINDOW });
  });
});
