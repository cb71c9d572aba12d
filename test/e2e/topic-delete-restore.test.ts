/**
 * A topic deleted and created again within the tiered range stays deleted through the loss
 * of the broker's disk, as processes: a NameServer and one broker (durability s3, a local
 * tier folder, 64 KiB segments) take old messages, tier them, delete the topic (the broker's
 * delete with the incarnation, then the NameServer's, as the gateway does), take new ones;
 * then SIGKILL, the store folder wiped, a restart that restores from the tier. Every queue
 * must hold exactly the new incarnation's acknowledged messages from offset 0, and lookups
 * by key and id must miss every old message while finding the new ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient, NameServerClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import type { Proc } from '../support/proc';
import { singleBrokerProcs } from '../support/single-broker';
import { pullWholeQueue } from '../support/pull-queue';

const TOPIC = 't';
const QUEUES = 2;
const SEGMENT = 64 * 1024;

interface Harness {
  dataDir: string;
  storeDir: string;
  nameServer: Proc;
  broker: Proc;
  client: BrokerClient;
  ns: NameServerClient;
  nsAddr: string;
}

let harness: Harness | undefined;
const producers: Producer[] = [];

afterEach(async () => {
  for (const p of producers.splice(0)) p.shutdown();
  if (!harness) return;
  harness.client.close();
  harness.ns.close();
  await harness.broker.stop('SIGTERM');
  await harness.nameServer.stop('SIGTERM');
  if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(harness.dataDir, { recursive: true, force: true });
  harness = undefined;
});

async function start(): Promise<Harness> {
  const { dataDir, storeDir, nsAddr, brokerAddr, nameServer, broker } = await singleBrokerProcs('cirrusmq-topic-delete-restore-', {
    CIRRUSMQ_DURABILITY: 's3',
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(SEGMENT),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '256',
    CIRRUSMQ_DISK_BUDGET_BYTES: String(4 * SEGMENT),
    CIRRUSMQ_CLEAN_INTERVAL_MS: '100',
    CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '100',
  });
  await nameServer.start();
  await broker.start();
  const ns = new NameServerClient(nsAddr);
  await waitFor('broker registered', 60_000, async () => (await ns.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive));
  harness = { dataDir, storeDir, nameServer, broker, client: new BrokerClient(brokerAddr), ns, nsAddr };
  return harness;
}

interface Acked {
  queueId: number;
  queueOffset: number;
  body: string;
  key: string;
  messageId: string;
}

/** `count` messages of ~1 KB, each with its own key and the shared key `k`, in batches of 16; each acknowledged one. */
async function produce(h: Harness, count: number, tag: string): Promise<Acked[]> {
  // A new producer per incarnation: nothing cached from the topic before its delete.
  const producer = new Producer({ nameServer: h.nsAddr, retryTimesWhenSendFailed: 2, sendTimeoutMs: 15_000 });
  producers.push(producer);
  const acked: Acked[] = [];
  for (let i = 0; i < count; i += 16) {
    const messages = Array.from({ length: Math.min(16, count - i) }, (_, j) => ({
      topic: TOPIC,
      keys: [`${tag}-key-${i + j}`, 'k'],
      body: Buffer.from(`${tag}-${i + j}-${'z'.repeat(1000)}`),
    }));
    const results = await producer.sendBatch(messages);
    results.forEach((r, j) => {
      expect(r.status).toBe('SEND_OK');
      acked.push({
        queueId: r.messageQueue.queueId,
        queueOffset: r.queueOffset,
        body: messages[j]!.body.toString(),
        key: messages[j]!.keys[0]!,
        messageId: r.messageId,
      });
    });
  }
  return acked;
}

/** Each queue holds exactly `acked`'s messages of it, in queue-offset order from 0. */
async function expectQueuesHoldOnly(h: Harness, acked: Acked[]): Promise<void> {
  for (let q = 0; q < QUEUES; q++) {
    const mine = acked.filter((a) => a.queueId === q).sort((a, b) => a.queueOffset - b.queueOffset);
    expect(
      mine.map((a) => a.queueOffset),
      `queue ${q} offsets`,
    ).toEqual(mine.map((_, i) => i));
    const got = await pullWholeQueue(h.client, TOPIC, q);
    // Named by the bodies' heads ("new-17"), so a failure reads; then every body byte for byte.
    const head = (body: string) => body.slice(0, body.indexOf('-z'));
    expect(
      got.map((m) => [m.queueOffset, m.messageId, head(m.body.toString())]),
      `queue ${q}`,
    ).toEqual(mine.map((a) => [a.queueOffset, a.messageId, head(a.body)]));
    got.forEach((m, i) => expect(m.body.toString() === mine[i]!.body, `queue ${q} offset ${i} body`).toBe(true));
  }
}

async function tierStats(h: Harness): Promise<any> {
  const s = (await h.client.stats(5_000)) as any;
  return { ...s.tier, commitLogMaxOffset: s.commitLogMaxOffset };
}

/** Every sealed segment is tiered: the tier ends where the active segment starts. */
async function waitAllSealedTiered(h: Harness, minEnd: number): Promise<number> {
  let end = 0;
  await waitFor(`every sealed segment tiered (past ${minEnd})`, 90_000, async () => {
    const s = await tierStats(h);
    end = s.tieredMaxOffset;
    return end > minEnd && end === Math.floor(s.commitLogMaxOffset / SEGMENT) * SEGMENT;
  });
  return end;
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function eachLimited<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** The tier's copies of the deleted topics under the broker's prefix (tier-tombstones.ts keeps one). */
function tombstoneVersions(tierDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (path.basename(dir) === 'topic-tombstones' && path.basename(path.dirname(dir)) === 'meta') found.push(p);
    }
  };
  walk(tierDir);
  return found;
}

describe('topic delete, then a restore from the tier', () => {
  it('after SIGKILL and a wiped store folder, the topic created again holds only its own messages from offset 0, and lookups miss the old ones', async () => {
    const h = await start();
    const created = await h.ns.createTopic({ topic: TOPIC, queues: QUEUES });
    const old = await produce(h, 300, 'old');
    await expectQueuesHoldOnly(h, old);
    const oldTieredEnd = await waitAllSealedTiered(h, 3 * SEGMENT);

    // The gateway's DELETE: the broker's delete of the incarnation, then the NameServer's.
    const deleted = await h.client.deleteTopic(TOPIC, created.topic.createdAt);
    expect(deleted).toMatchObject({ queues: QUEUES });
    await h.ns.deleteTopic(TOPIC);
    // Acknowledged with durability s3: the tier holds the tombstone already.
    expect(tombstoneVersions(`${h.storeDir}-tier`)).toHaveLength(1);
    const again = await h.ns.createTopic({ topic: TOPIC, queues: QUEUES });
    expect(again.created).toBe(true);

    const fresh = await produce(h, 300, 'new');
    await expectQueuesHoldOnly(h, fresh);
    const tieredEnd = await waitAllSealedTiered(h, oldTieredEnd + 2 * SEGMENT);
    const stats = await tierStats(h);
    expect(stats.commitLogMaxOffset).toBeGreaterThan(tieredEnd); // some new messages only in the write-ahead log

    await h.broker.stop('SIGKILL');
    fs.rmSync(h.storeDir, { recursive: true, force: true });
    await h.broker.start();
    expect((await tierStats(h)).commitLogMaxOffset).toBe(stats.commitLogMaxOffset); // restored, write-ahead chunks and all

    // Every acknowledged new message in its place, and nothing else.
    await expectQueuesHoldOnly(h, fresh);
    // Lookups: no old message by its key, the shared key or its id; every new one by key and id.
    await eachLimited(old, 8, async (m) => {
      expect(await h.client.queryMessage(TOPIC, m.key), `old key ${m.key}`).toEqual([]);
      expect(await h.client.viewMessage(m.messageId), `old id ${m.messageId}`).toEqual([]);
    });
    const shared = await h.client.queryMessage(TOPIC, 'k', { max: 1000 });
    expect(shared.map((m) => m.messageId).sort()).toEqual(fresh.map((m) => m.messageId).sort());
    await eachLimited(fresh, 8, async (m) => {
      const byKey = await h.client.queryMessage(TOPIC, m.key);
      expect(
        byKey.map((r) => [r.queueId, r.queueOffset, r.body.toString()]),
        `key ${m.key}`,
      ).toEqual([[m.queueId, m.queueOffset, m.body]]);
      const byId = await h.client.viewMessage(m.messageId);
      expect(
        byId.map((r) => [r.queueId, r.queueOffset, r.body.toString()]),
        `id ${m.messageId}`,
      ).toEqual([[m.queueId, m.queueOffset, m.body]]);
    });

    // Sends continue the new incarnation's queues.
    const after = await produce(h, 32, 'after');
    await expectQueuesHoldOnly(h, [...fresh, ...after]);
  }, 240_000);
});
