import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ContentTypes, silentLogger } from '@cirrusmq/client/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { removeDir, sendBody, tempDir } from '../testing/fixtures';
import { TopicConfigManager } from '../topic-config-manager';
import { createBrokerServer } from './broker-server';
import { REQUEST_BUCKETS } from './broker-metrics';

let dir: string | undefined;
let store: DefaultMessageStore | undefined;
let server: http.Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((r) => server!.close(r));
  await store?.shutdown();
  if (dir) removeDir(dir);
  server = store = dir = undefined;
});

async function start(): Promise<string> {
  dir = tempDir();
  // flushIntervalMs long: the only flush is the test's flushRound, so the flush histogram's count is known.
  store = new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 60_000 },
    silentLogger,
  ).load();
  const nameServer = new FakeNameServer();
  nameServer.addTopic('TopicA', 4);
  nameServer.addTopic('TopicB', 4);
  server = createBrokerServer({
    brokerName: 'broker-a',
    store,
    topicConfigManager: new TopicConfigManager('broker-a', nameServer),
    logger: silentLogger,
    acceptingWrites: () => true,
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The exposition's samples, labels in any order (prom-client puts the default label last). */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length,
  )?.value;

const send = (base: string, body: Buffer) => fetch(`${base}/v1/send`, { method: 'POST', body, headers: { 'content-type': ContentTypes.SEND_BATCH } });

describe('broker /metrics histograms and per-topic counters', () => {
  it('times each send and pull by result, each flush, and counts messages and bytes per topic', async () => {
    const base = await start();
    expect((await send(base, sendBody('TopicA', 0, ['a', 'b', 'c']))).status).toBe(200);
    expect((await send(base, sendBody('TopicA', 1, ['d']))).status).toBe(200);
    expect((await send(base, sendBody('TopicB', 0, ['e', 'f']))).status).toBe(200);
    expect((await send(base, sendBody('NoSuchTopic', 0, ['x']))).status).toBe(404);
    expect((await fetch(`${base}/v1/messages?topic=TopicA&queueId=0&offset=0`)).status).toBe(200);
    expect((await fetch(`${base}/v1/messages?topic=TopicA&queueId=0&offset=3`)).status).toBe(200);
    await store!.flushRound();

    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    const { samples, types } = parse(text);
    // The hand-written figures are still there, unchanged.
    expect(text).toContain('cirrusmq_broker_put_messages_total{broker="broker-a"} 6');
    expect(types.get('cirrusmq_store_flush_latency_seconds')).toBe('summary');

    for (const name of [
      'cirrusmq_broker_send_duration_seconds',
      'cirrusmq_broker_pull_duration_seconds',
      'cirrusmq_store_flush_duration_seconds',
      'cirrusmq_tier_upload_duration_seconds',
    ]) {
      expect(types.get(name), name).toBe('histogram');
    }
    const b = { broker: 'broker-a' };
    const send200 = { ...b, result: 'SEND_OK' };
    // One bucket line per bound plus +Inf, cumulative, ending at the count.
    const buckets = samples.filter((s) => s.name === 'cirrusmq_broker_send_duration_seconds_bucket' && s.labels.result === 'SEND_OK');
    expect(buckets.map((s) => s.labels.le)).toEqual([...REQUEST_BUCKETS.map(String), '+Inf']);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(value(samples, 'cirrusmq_broker_send_duration_seconds_count', send200)).toBe(3);
    expect(value(samples, 'cirrusmq_broker_send_duration_seconds_bucket', { ...send200, le: '+Inf' })).toBe(3);
    expect(value(samples, 'cirrusmq_broker_send_duration_seconds_sum', send200)).toBeGreaterThan(0);
    expect(value(samples, 'cirrusmq_broker_send_duration_seconds_count', { ...b, result: 'TOPIC_NOT_FOUND' })).toBe(1);
    expect(value(samples, 'cirrusmq_broker_pull_duration_seconds_count', { ...b, result: 'FOUND' })).toBe(1);
    expect(value(samples, 'cirrusmq_broker_pull_duration_seconds_count', { ...b, result: 'NO_NEW_MSG' })).toBe(1);
    expect(value(samples, 'cirrusmq_store_flush_duration_seconds_count', b)).toBe(1);
    expect(value(samples, 'cirrusmq_tier_upload_duration_seconds_count', b)).toBe(0);

    expect(types.get('cirrusmq_broker_topic_put_messages_total')).toBe('counter');
    expect(value(samples, 'cirrusmq_broker_topic_put_messages_total', { ...b, topic: 'TopicA' })).toBe(4);
    expect(value(samples, 'cirrusmq_broker_topic_put_messages_total', { ...b, topic: 'TopicB' })).toBe(2);
    expect(value(samples, 'cirrusmq_broker_topic_put_messages_total', { ...b, topic: 'NoSuchTopic' })).toBeUndefined();
    const bytesA = value(samples, 'cirrusmq_broker_topic_put_bytes_total', { ...b, topic: 'TopicA' })!;
    const bytesB = value(samples, 'cirrusmq_broker_topic_put_bytes_total', { ...b, topic: 'TopicB' })!;
    expect(bytesA).toBeGreaterThan(bytesB);
    expect(bytesA + bytesB).toBe(store!.stats().putBytesTotal);
  });
});
