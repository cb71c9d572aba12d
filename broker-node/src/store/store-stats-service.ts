/**
 * The store's running figures (RocketMQ's StoreStatsService), in fixed memory whatever the
 * traffic: put totals, the put rate over the last 10 s from ten one-second buckets, and the
 * latency of the last FLUSH_WINDOW flushes in a ring (p50/p99 sort a copy on demand).
 *
 *   put buckets: [s-9][s-8]...[s]   (bucket = second % 10; a stale bucket is reset on use)
 *   flush ring:  [lat][lat]...      (oldest overwritten)
 *
 * It also keeps what /metrics turns into alerts: histograms of flush and tier-upload latency
 * (prom-client, observed once per fdatasync or segment, never per message) and the messages
 * and bytes put per topic (a Map bumped once per batch; prom-client reads it only at a scrape).
 */
import { MAX_TOPIC_SERIES, OTHER_TOPICS, type TopicCounts, TopicSeries } from '@cirrusmq/client/server';
import { Counter, Histogram } from 'prom-client';

/** Told of each CommitLog fdatasync (the group commit, the flush round). */
export interface FlushObserver {
  /** A flush finished in `latencyMs`. */
  recordFlush(latencyMs: number): void;
}

const RATE_WINDOW_S = 10;
export const FLUSH_WINDOW = 1024;
/** fdatasync: from a page-cache hit (~0.1 ms on NVMe) to a disk in trouble (seconds). */
const FLUSH_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** One CommitLog segment (1 GiB by default) to S3: seconds to minutes. */
const TIER_UPLOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

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
  private readonly topicPuts = new TopicSeries();
  /** Not in any registry: the broker's /metrics registers them (one store per broker, several brokers in a test process). */
  readonly flushSeconds = new Histogram({
    name: 'cirrusmq_store_flush_duration_seconds',
    help: 'CommitLog fdatasync duration (group commit under SYNC_FLUSH, the flush round under ASYNC_FLUSH).',
    buckets: FLUSH_BUCKETS,
    registers: [],
  });
  readonly tierUploadSeconds = new Histogram({
    name: 'cirrusmq_tier_upload_duration_seconds',
    help: 'Time to tier one CommitLog segment (upload, extracts, manifest commit).',
    buckets: TIER_UPLOAD_BUCKETS,
    registers: [],
  });
  readonly topicPutMessages: Counter<'topic'>;
  readonly topicPutBytes: Counter<'topic'>;

  constructor(private readonly now: () => number = Date.now) {
    this.startedSecond = Math.floor(now() / 1000);
    const puts = this.topicPuts;
    const perTopic = (name: string, help: string, field: keyof TopicCounts) =>
      new Counter({
        name,
        help,
        labelNames: ['topic'] as const,
        registers: [],
        // Read at scrape time from the Map the put path bumps (a labelled inc costs ~5x a Map update).
        collect() {
          this.reset();
          for (const [topic, p] of puts) this.inc({ topic }, p[field]);
        },
      });
    this.topicPutMessages = perTopic(
      'cirrusmq_broker_topic_put_messages_total',
      `Messages stored per topic (topics past the first ${MAX_TOPIC_SERIES} under topic="${OTHER_TOPICS}").`,
      'messages',
    );
    this.topicPutBytes = perTopic(
      'cirrusmq_broker_topic_put_bytes_total',
      `Record bytes stored per topic (topics past the first ${MAX_TOPIC_SERIES} under topic="${OTHER_TOPICS}").`,
      'bytes',
    );
  }

  recordPut(messages: number, bytes: number, topic?: string): void {
    this.putMessagesTotal += messages;
    this.putBytesTotal += bytes;
    if (topic !== undefined) {
      const p = this.topicPuts.counts(topic);
      p.messages += messages;
      p.bytes += bytes;
    }
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
    this.flushSeconds.observe(latencyMs / 1000);
  }

  recordTierUpload(seconds: number): void {
    this.tierUploadSeconds.observe(seconds);
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
