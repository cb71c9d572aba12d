/**
 * Timers and the loss of the disk, with real processes: one broker with durability s3 (its
 * local tier folder). Timers are scheduled, some fire, then the broker is SIGKILLed and its
 * store folder wiped; restored from the tier (write-ahead chunks included), it has no timer
 * log, wheel or checkpoint, so it replays the whole timer topic: every timer that had not fired
 * fires once, none that had fired is delivered again, and none is delivered early.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient, MessageConst, NameServerClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { type SingleBroker, singleBrokerProcs } from '../support/single-broker';
import { pullWholeQueue } from '../support/pull-queue';

const TOPIC = 'timers';

let h: (SingleBroker & { client: BrokerClient; ns: NameServerClient; producer: Producer }) | undefined;

afterEach(async () => {
  if (!h) return;
  h.producer.shutdown();
  h.client.close();
  h.ns.close();
  await h.broker.stop('SIGTERM');
  await h.nameServer.stop('SIGTERM');
  if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(h.dataDir, { recursive: true, force: true });
  h = undefined;
});

const readAll = async (client: BrokerClient) => [...(await pullWholeQueue(client, TOPIC, 0)), ...(await pullWholeQueue(client, TOPIC, 1))];

describe('timers across a wiped disk', () => {
  it('restored from the tier (durability s3), fires each pending timer once and none fired before again', async () => {
    const procs = await singleBrokerProcs('cirrusmq-timer-e2e-', { CIRRUSMQ_DURABILITY: 's3', CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '100' });
    await procs.nameServer.start();
    await procs.broker.start();
    const ns = new NameServerClient(procs.nsAddr);
    h = { ...procs, ns, client: new BrokerClient(procs.brokerAddr), producer: new Producer({ nameServer: procs.nsAddr, sendTimeoutMs: 15_000 }) };
    await waitFor('broker registered', 60_000, async () => (await ns.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive));
    await ns.createTopic({ topic: TOPIC, queues: 2 });

    const start = Date.now();
    const early = Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, body: `early-${i}`, deliverAt: start + 1_000 }));
    const late = Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, body: `late-${i}`, deliverAt: start + 6_000 + i * 100 }));
    const ids = new Set<string>();
    for (const r of await h.producer.sendBatch([...early, ...late])) ids.add(r.messageId);
    expect(ids.size).toBe(20);
    await waitFor('the early timers fired', 20_000, async () => (await readAll(h!.client)).length === 10);
    // Their delivered copies in the write-ahead log, so the restore brings them back and must not deliver them again.
    await waitFor('the log durable in the tier', 20_000, async () => {
      const s = (await h!.client.stats(5_000)) as { commitLogMaxOffset: number; tier?: { wal?: { durableEnd: number } } };
      return (s.tier?.wal?.durableEnd ?? 0) >= s.commitLogMaxOffset;
    });

    await h.broker.stop('SIGKILL');
    fs.rmSync(path.join(h.dataDir, 'broker-a'), { recursive: true, force: true });
    await h.broker.start();
    await waitFor('every timer delivered', 30_000, async () => (await readAll(h!.client)).length >= 20);
    const all = await readAll(h.client);
    expect(all.map((m) => m.messageId).sort()).toEqual([...ids].sort());
    for (const m of all) expect(m.storeTimestamp, m.body.toString()).toBeGreaterThanOrEqual(Number(m.properties[MessageConst.TIMER_OUT_MS]));
    // Nothing more arrives later (a duplicate fired late).
    const settled = Date.now();
    await waitFor('a second past the last due time', 10_000, async () => Date.now() > Math.max(settled, start + 7_000) + 1_000);
    expect((await readAll(h.client)).length).toBe(20);
  }, 90_000);
});
