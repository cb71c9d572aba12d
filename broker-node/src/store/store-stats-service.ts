/**
 * The store's running figures (RocketMQ's StoreStatsService), in fixed memory whatever the
 * traffic: put totals, the put rate over the last 10 s from ten one-second buckets, and the
 * latency of the last FLUSH_WINDOW flushes in a ring (p50/p99 sort a copy on demand).
 *
 *   put buckets: [s-9][s-8]...[s]   (bucket = second % 10; a stale bucket is reset on use)
 *   flush ring:  [lat][lat]...      (oldest overwritten)
 */
import type { FlushObserver } from './group-commit-service';

const RATE_WINDOW_S = 10;
export const FLUSH_WINDOW = 1024;

export interface PutRate {
  /** Messages per second over the last 10 s (or since start, if sooner). */
  messagesPerSec: number;
  bytesPerSec: number;
}

export interface FlushLatency {
  flushTotal: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Flushes the percentiles cover (the last FLUSH_WINDOW). */
  window: number;
}

export class StoreStatsService implements FlushObserver {
  putMessagesTotal = 0;
  putBytesTotal = 0;
  flushTotal = 0;
  private readonly bucketSecond = new Float64Array(RATE_WINDOW_S).fill(-1);
  private readonly bucketMsgs = new Float64Array(RATE_WINDOW_S);
  private readonly bucketBytes = new Float64Array(RATE_WINDOW_S);
  private readonly flushLatency = new Float64Array(FLUSH_WINDOW);
  private readonly startedSecond: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedSecond = Math.floor(now() / 1000);
  }

  recordPut(messages: number, bytes: number): void {
    this.putMessagesTotal += messages;
    this.putBytesTotal += bytes;
    const second = Math.floor(this.now() / 1000);
    const i = second % RATE_WINDOW_S;
    if (this.bucketSecond[i] !== second) {
      this.bucketSecond[i] = second;
      this.bucketMsgs[i] = 0;
      this.bucketBytes[i] = 0;
    }
    this.bucketMsgs[i]! += messages;
    this.bucketBytes[i]! += bytes;
  }

  recordFlush(latencyMs: number): void {
    this.flushLatency[this.flushTotal % FLUSH_WINDOW] = latencyMs;
    this.flushTotal++;
  }

  putRate(): PutRate {
    const second = Math.floor(this.now() / 1000);
    let msgs = 0;
    let bytes = 0;
    for (let i = 0; i < RATE_WINDOW_S; i++) {
      const s = this.bucketSecond[i]!;
      if (s > second - RATE_WINDOW_S && s <= second) {
        msgs += this.bucketMsgs[i]!;
        bytes += this.bucketBytes[i]!;
      }
    }
    // The current second is partial: divide by the time the buckets really span.
    const spanSec = Math.min(RATE_WINDOW_S - 1, second - this.startedSecond) + ((this.now() % 1000) / 1000 || 0.001);
    return { messagesPerSec: msgs / spanSec, bytesPerSec: bytes / spanSec };
  }

  flushLatencyStats(): FlushLatency {
    const n = Math.min(this.flushTotal, FLUSH_WINDOW);
    if (n === 0) return { flushTotal: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, window: 0 };
    const sorted = this.flushLatency.slice(0, n).sort();
    const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
    return { flushTotal: this.flushTotal, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[n - 1]!, window: n };
  }
}
