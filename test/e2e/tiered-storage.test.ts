/**
 * Tiered storage with real processes: a NameServer and one broker with 64 KiB segments and a
 * local disk budget of 4 segments, so sealed segments go to the tier and leave the disk.
 *   - reads from offset 0 cross from the tier to the local log: every message once, in order;
 *   - SIGKILL and a wiped store folder: the broker restores from the tier and serves on;
 *   - S3 (moto_server behind a proxy that can go down): during an outage nothing is deleted
 *     locally, and the upload completes once S3 is back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { BrokerClient } from '../../client/src/api/broker-client';
import { NameServerClient } from '../../client/src/api/nameserver-client';
import type { MessageExt } from '../../client/src/message';
import { Producer } from '../../client/src/producer/producer';
import { waitFor } from '../../infra/local/wait-for';
import type { Proc } from '../support/proc';
import { singleBrokerProcs } from '../support/single-broker';
import { createMotoTier } from '../support/tier-on-moto';
import { ToggleProxy } from '../support/toggle-proxy';

const TOPIC = 'tiered';
const QUEUES = 2;
const SEGMENT = 64 * 1024;
const moto = inject('motoEndpoint');

interface Harness {
  dataDir: string;
  nameServer: Proc;
  broker: Proc;
  client: BrokerClient;
  ns: NameServerClient;
  producer: Producer;
}

let harness: Harness | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  if (harness) {
    harness.producer.shutdown();
    harness.client.close();
    harness.ns.close();
    await harness.broker.stop('SIGTERM');
    await harness.nameServer.stop('SIGTERM');
    if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(harness.dataDir, { recursive: true, force: true });
    harness = undefined;
  }
  for (const c of cleanups.splice(0)) await c();
});

async function start(brokerEnv: Record<string, string> = {}): Promise<Harness> {
  const { dataDir, nsAddr, brokerAddr, nameServer, broker } = await singleBrokerProcs('cirrusmq-tier-e2e-', {
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(SEGMENT),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '256',
    CIRRUSMQ_DISK_BUDGET_BYTES: String(4 * SEGMENT),
    CIRRUSMQ_CLEAN_INTERVAL_MS: '100',
    CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '100',
    // 64 KiB blocks: a read from offset 0 walks many blocks and segments of the tier.
    CIRRUSMQ_TIER_BLOCK_BYTES: String(64 * 1024),
    CIRRUSMQ_TIER_CACHE_BYTES: String(256 * 1024),
    ...brokerEnv,
  });
  await nameServer.start();
  await broker.start();
  const ns = new NameServerClient(nsAddr);
  await waitFor('broker registered', 20_000, async () => (await ns.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive));
  await ns.createTopic({ topic: TOPIC, queues: QUEUES });
  harness = { dataDir, nameServer, broker, client: new BrokerClient(brokerAddr), ns, producer: new Producer({ nameServer: nsAddr, retryTimesWhenSendFailed: 2, sendTimeoutMs: 5_000 }) };
  return harness;
}

/** Sends `count` messages of ~1 KB in batches of 16; returns each acknowledged body by queue and offset. */
async function produce(h: Harness, count: number, tag = 'm'): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  for (let i = 0; i < count; i += 16) {
    const messages = Array.from({ length: Math.min(16, count - i) }, (_, j) => ({ topic: TOPIC, body: Buffer.from(`${tag}-${i + j}-${'z'.repeat(1000)}`) }));
    const results = await h.producer.sendBatch(messages);
    results.forEach((r, j) => {
      expect(r.status).toBe('SEND_OK');
      acked.set(`${r.messageQueue.queueId}/${r.queueOffset}`, messages[j]!.body.toString());
    });
  }
  return acked;
}

async function readQueue(h: Harness, queueId: number): Promise<MessageExt[]> {
  const all: MessageExt[] = [];
  for (;;) {
    const page = await h.client.pull(TOPIC, queueId, all.length, 64);
    if (page.messages.length === 0) return all;
    all.push(...page.messages);
  }
}

async function tierStats(h: Harness): Promise<any> {
  const s = (await h.client.stats(5_000)) as any;
  return { ...s.tier, commitLogMinOffset: s.commitLogMinOffset, commitLogMaxOffset: s.commitLogMaxOffset };
}

function expectAllAcked(acked: Map<string, string>, queues: MessageExt[][]): void {
  for (const [key, body] of acked) {
    const [q, o] = key.split('/').map(Number) as [number, number];
    expect(queues[q]![o]?.body.toString(), `queue ${q} offset ${o}`).toBe(body);
  }
  for (const msgs of queues) msgs.forEach((m, i) => expect(m.queueOffset).toBe(i));
}

describe('tiered storage (local tier folder)', () => {
  it('tiers sealed segments, deletes them locally, and serves reads from offset 0 across the tier and the disk', async () => {
    const h = await start();
    const acked = await produce(h, 800);
    await waitFor('segments tiered and deleted locally', 20_000, async () => {
      const s = await tierStats(h);
      return s.tieredSegments >= 8 && s.commitLogMinOffset > 0;
    });
    const s = await tierStats(h);
    expect(s.tieredMinOffset).toBe(0);
    const queues = [await readQueue(h, 0), await readQueue(h, 1)];
    expect(queues[0]!.length + queues[1]!.length).toBe(800);
    expectAllAcked(acked, queues);
    const after = await tierStats(h);
    expect(after.cacheMisses).toBeGreaterThan(0);
    expect(after.s3Requests.get).toBeGreaterThan(0);
  }, 90_000);

  it('restores from the tier after SIGKILL and a wiped store folder, and appends after the tiered log', async () => {
    const h = await start();
    await produce(h, 600);
    await waitFor('segments tiered', 20_000, async () => (await tierStats(h)).tieredSegments >= 6);
    const { tieredMaxOffset } = await tierStats(h);
    await h.broker.stop('SIGKILL');
    fs.rmSync(path.join(h.dataDir, 'broker-a'), { recursive: true, force: true });
    await h.broker.start();
    const restored = [await readQueue(h, 0), await readQueue(h, 1)];
    // Everything in the tiered segments is back (async durability: the active segment was lost with the disk).
    const count = restored[0]!.length + restored[1]!.length;
    expect(count).toBeGreaterThan(0);
    for (const msgs of restored) msgs.forEach((m, i) => {
      expect(m.queueOffset).toBe(i);
      expect(m.commitLogOffset).toBeLessThan(tieredMaxOffset);
    });
    const more = await produce(h, 32, 'after');
    const queues = [await readQueue(h, 0), await readQueue(h, 1)];
    expectAllAcked(more, queues);
    expect(queues[0]!.length + queues[1]!.length).toBe(count + 32);
    const s = await tierStats(h);
    expect(s.commitLogMinOffset).toBeGreaterThanOrEqual(tieredMaxOffset);
  }, 90_000);
});

describe.skipIf(!moto)('tiered storage (S3 on moto_server)', () => {
  it('keeps a segment on disk while S3 is down and tiers it once S3 is back', async () => {
    const tier = await createMotoTier(moto);
    const proxy = await ToggleProxy.forEndpoint(moto);
    cleanups.push(() => proxy.stop());
    const h = await start(tier.brokerEnv(proxy.endpoint));
    await produce(h, 200);
    await waitFor('first segments tiered', 20_000, async () => (await tierStats(h)).tieredSegments >= 2);

    proxy.down();
    const before = await tierStats(h);
    await produce(h, 600, 'outage');
    await waitFor('an upload failed', 20_000, async () => (await tierStats(h)).uploadFailures > 0);
    // Over the disk budget, yet no untiered segment may go: the log still starts where the tier ends.
    const during = await tierStats(h);
    expect(during.tieredSegments).toBe(before.tieredSegments);
    expect(during.commitLogMinOffset).toBeLessThanOrEqual(during.tieredMaxOffset);
    const firstUntiered = path.join(h.dataDir, 'broker-a', 'commitlog', String(during.tieredMaxOffset).padStart(20, '0'));
    expect(fs.existsSync(firstUntiered)).toBe(true);

    proxy.up();
    await waitFor('uploads resumed and the budget applied', 60_000, async () => {
      const s = await tierStats(h);
      return s.tieredSegments >= 10 && s.commitLogMinOffset > during.tieredMaxOffset;
    });
    const queues = [await readQueue(h, 0), await readQueue(h, 1)];
    expect(queues[0]!.length + queues[1]!.length).toBe(800);
  }, 120_000);
});
