import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerSendResponse, ContentTypes, silentLogger } from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import { DefaultMessageStore } from '../store/message-store';
import type { MessageStoreConfig } from '../store/message-store-types';
import { ControlledSync, ManualClock } from '../testing/controlled-sync';
import { FakeNameServer } from '../testing/fake-nameserver';
import { removeDir, sendBody, tempDir } from '../testing/fixtures';
import { TopicConfigManager } from '../topic-config-manager';
import { createBrokerServer } from './broker-server';

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

async function start(overrides: Partial<MessageStoreConfig> = {}): Promise<string> {
  dir = tempDir();
  store = new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 20, ...overrides },
    silentLogger,
  ).load();
  const nameServer = new FakeNameServer();
  nameServer.addTopic('TopicA', 4);
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

const send = (base: string, body: Buffer) => fetch(`${base}/v1/send`, { method: 'POST', body, headers: { 'content-type': ContentTypes.SEND_BATCH } });

describe('broker stats', () => {
  it('answers GET /v1/stats with the store figures and /metrics with them in Prometheus text', async () => {
    const base = await start({ flushIntervalMs: 60_000 }); // only the flushRound below
    expect((await send(base, sendBody('TopicA', 0, ['a', 'b', 'c']))).status).toBe(200);
    await store!.flushRound();
    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as Record<string, unknown>;
    const max = store!.stats().commitLogMaxOffset;
    expect(stats).toMatchObject({
      brokerName: 'broker-a',
      putMessagesTotal: 3,
      flushDiskType: 'ASYNC_FLUSH',
      flushTotal: 1,
      commitLogMinOffset: 0,
      commitLogMaxOffset: max,
      commitLogFlushedOffset: max,
      checkpointPhysicOffset: max,
    });
    expect(stats.putMessagesPerSec).toBeGreaterThan(0);
    expect(stats.flushLatencyP99Ms).toBeGreaterThan(0);
    expect(stats.rssBytes).toBeGreaterThan(10 * 1024 * 1024);

    const text = await (await fetch(`${base}/metrics`)).text();
    for (const line of [
      'cirrusmq_broker_put_messages_total{broker="broker-a"} 3',
      `cirrusmq_commitlog_max_offset{broker="broker-a"} ${max}`,
      `cirrusmq_commitlog_flushed_offset{broker="broker-a"} ${max}`,
      'cirrusmq_store_flush_total{broker="broker-a"} 1',
      '# TYPE cirrusmq_store_flush_latency_seconds summary',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).toMatch(/cirrusmq_store_flush_latency_seconds\{broker="broker-a",quantile="0.99"\} [0-9.e-]+/);
    expect(text).toMatch(/cirrusmq_broker_put_messages_per_second\{broker="broker-a"\} [0-9.]+/);
    expect(text).toMatch(/process_resident_memory_bytes\{broker="broker-a"\} \d+/);
  });

  it('answers a send whose group commit misses syncFlushTimeoutMs with status FLUSH_DISK_TIMEOUT', async () => {
    // The disk and the timeout's clock are the test's: a real fdatasync slowed by a busy
    // machine cannot decide the outcome (it once turned the SEND_OK below into a timeout).
    const sync = new ControlledSync();
    const clock = new ManualClock();
    const base = await start({ flushDiskType: 'SYNC_FLUSH', syncFlushTimeoutMs: 30, syncFlushClock: clock.now, flushIntervalMs: 60_000, dataSync: sync.fn });
    sync.hold();
    const answer = send(base, sendBody('TopicA', 1, ['x']));
    await sync.whenCalls(1); // the send is written and its fdatasync hangs
    clock.advance(31);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(((await res.json()) as BrokerSendResponse).status).toBe('FLUSH_DISK_TIMEOUT');
    sync.release();
    await waitFor('the held fdatasync to complete', 20_000, async () => store!.stats().commitLogFlushedOffset === store!.stats().commitLogMaxOffset, 5);
    const ok = (await (await send(base, sendBody('TopicA', 1, ['y']))).json()) as BrokerSendResponse;
    expect(ok).toMatchObject({ status: 'SEND_OK', queueOffset: 1 });
    expect(((await (await fetch(`${base}/v1/stats`)).json()) as { flushDiskTimeoutTotal: number }).flushDiskTimeoutTotal).toBe(1);
  });
});
