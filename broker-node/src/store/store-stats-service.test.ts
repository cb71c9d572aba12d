import { describe, expect, it } from 'vitest';
import { MAX_TOPIC_SERIES, OTHER_TOPICS } from '@cirrusmq/client/server';
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

  it('observes each flush and tier upload into a histogram, in seconds', async () => {
    const s = new StoreStatsService();
    s.recordFlush(0.3); // ms
    s.recordFlush(40);
    s.recordTierUpload(7);
    const flush = (await s.flushSeconds.get()).values;
    const le = (values: typeof flush, bound: number | string) => values.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === bound)?.value;
    expect(le(flush, 0.00025)).toBe(0);
    expect(le(flush, 0.0005)).toBe(1);
    expect(le(flush, 0.05)).toBe(2);
    expect(flush.find((v) => v.metricName?.endsWith('_sum'))?.value).toBeCloseTo(0.0403, 6);
    const upload = (await s.tierUploadSeconds.get()).values;
    expect(le(upload, 5)).toBe(0);
    expect(le(upload, 10)).toBe(1);
  });

  it('counts messages and bytes per topic, the topics past MAX_TOPIC_SERIES together', async () => {
    const s = new StoreStatsService();
    s.recordPut(3, 300, 'TopicA');
    s.recordPut(2, 50, 'TopicA');
    for (let i = 1; i < MAX_TOPIC_SERIES; i++) s.recordPut(1, 10, `T${i}`);
    s.recordPut(4, 40, 'Late1'); // the series are full
    s.recordPut(6, 60, 'Late2');
    s.recordPut(1, 1, 'TopicA'); // a known topic keeps its own series
    const messages = (await s.topicPutMessages.get()).values;
    const bytes = (await s.topicPutBytes.get()).values;
    const of = (values: typeof messages, topic: string) => values.find((v) => v.labels.topic === topic)?.value;
    expect(messages).toHaveLength(MAX_TOPIC_SERIES + 1);
    expect(of(messages, 'TopicA')).toBe(6);
    expect(of(bytes, 'TopicA')).toBe(351);
    expect(of(messages, `T${MAX_TOPIC_SERIES - 1}`)).toBe(1);
    expect(of(messages, 'Late1')).toBeUndefined();
    expect(of(messages, OTHER_TOPICS)).toBe(10);
    expect(of(bytes, OTHER_TOPICS)).toBe(100);
    // A scrape reads the counts, it does not add them up again.
    expect(of((await s.topicPutMessages.get()).values, 'TopicA')).toBe(6);
    // The store-wide totals count every put, with or without a topic.
    expect(s.putMessagesTotal).toBe(3 + 2 + (MAX_TOPIC_SERIES - 1) + 4 + 6 + 1);
  });
});
