/**
 * Tags, lookups and retention through the gateway, against a real cluster (NameServer, two
 * brokers, gateway as processes): tagged and keyed messages sent over HTTP, read back with
 * tag=, found by key across both brokers and by id on whichever broker holds them, and a
 * read below what retention kept answered with the minimum offset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
let gw: string;

interface Sent {
  messageId: string;
  broker: string;
  queueId: number;
  queueOffset: number;
  body: string;
  tags: string;
  keys: string[];
}
const sent: Sent[] = [];
const TAGS = ['TagA', 'TagB', 'TagC'];

beforeAll(async () => {
  cluster = await startTestCluster({
    env: {
      // Small segments and a retention of 1 ms (local and in the tier), checked every 200 ms:
      // any sealed segment goes soon, from the disk once tiered and then from the tier. The
      // messages of the tag and lookup tests stay in the first (active) segment.
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(64 * 1024),
      CIRRUSMQ_FILE_RESERVED_TIME_MS: '1',
      CIRRUSMQ_RETENTION_MS: '1',
      CIRRUSMQ_CLEAN_INTERVAL_MS: '200',
      CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '200',
      CIRRUSMQ_FLUSH_INTERVAL_MS: '50',
    },
  });
  gw = cluster.gatewayUrl;
  expect((await api(gw, 'POST', '/v1/topics', { topic: 'shop', queues: 2 })).status).toBe(201);
  const messages = Array.from({ length: 30 }, (_, i) => ({
    body: `msg-${i}`,
    tags: TAGS[i % 3]!,
    keys: [`order-${i % 5}`, ...(i === 7 ? ['a#b/c?d%e'] : [])],
  }));
  // Three requests of ten, so both brokers get some (round-robin over the topic's queues).
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    const res = await api(gw, 'POST', '/v1/topics/shop/messages', { messages: batch });
    expect(res.status).toBe(200);
    res.body.results.forEach((r: any, j: number) => {
      expect(r.status).toBe('SEND_OK');
      sent.push({ messageId: r.messageId, broker: r.broker, queueId: r.queueId, queueOffset: r.queueOffset, ...batch[j]! });
    });
  }
  expect(new Set(sent.map((s) => s.broker)).size).toBe(2);
});
afterAll(async () => {
  await stopTestCluster(cluster);
});

/** Every message of a queue that matches `tag`, following nextOffset to the queue's end. */
async function readFiltered(broker: string, queueId: number, tag: string): Promise<any[]> {
  const out: any[] = [];
  let offset = 0;
  for (;;) {
    const res = await api(gw, 'GET', `/v1/topics/shop/messages?broker=${broker}&queueId=${queueId}&offset=${offset}&max=4&tag=${encodeURIComponent(tag)}`);
    expect(res.status).toBe(200);
    out.push(...res.body.messages);
    if (res.body.nextOffset >= res.body.maxOffset) return out;
    expect(res.body.nextOffset).toBeGreaterThan(offset);
    offset = res.body.nextOffset;
  }
}

const queues = () => [...new Set(sent.map((s) => `${s.broker}/${s.queueId}`))].map((q) => q.split('/') as [string, string]);

describe('reading with tag=', () => {
  it('answers only the messages of the expression, in queue order', async () => {
    for (const tag of ['TagA', 'TagB || TagC']) {
      const wanted = tag.split('||').map((t) => t.trim());
      const got: string[] = [];
      for (const [broker, queueId] of queues()) {
        const messages = await readFiltered(broker, Number(queueId), tag);
        for (const m of messages) expect(wanted).toContain(m.tags);
        const offsets = messages.map((m) => m.queueOffset);
        expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
        got.push(...messages.map((m) => m.body));
      }
      const expected = sent.filter((s) => wanted.includes(s.tags)).map((s) => s.body);
      expect(got.sort()).toEqual(expected.sort());
    }
  });

  it('refuses a bad expression with 400 INVALID_PARAMETER', async () => {
    const res = await api(gw, 'GET', `/v1/topics/shop/messages?broker=broker-a&queueId=0&tag=${encodeURIComponent('TagA ||')}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_PARAMETER');
  });
});

describe('lookup by key', () => {
  it('finds the messages with a key on every broker, sorted by store time, with topic, broker and queue', async () => {
    const res = await api(gw, 'GET', '/v1/topics/shop/messages/by-key/order-3');
    expect(res.status).toBe(200);
    const expected = sent.filter((s) => s.keys.includes('order-3'));
    expect(new Set(expected.map((s) => s.broker)).size).toBe(2); // the answer must merge both brokers
    expect(res.body.messages.map((m: any) => m.body).sort()).toEqual(expected.map((s) => s.body).sort());
    const times = res.body.messages.map((m: any) => m.storeTimestamp);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const m of res.body.messages) {
      const s = expected.find((e) => e.messageId === m.messageId)!;
      expect(m).toMatchObject({ topic: 'shop', broker: s.broker, queueId: s.queueId, queueOffset: s.queueOffset, tags: s.tags, keys: s.keys });
    }
    expect(res.body.unreachableBrokers).toBeUndefined();
  });

  it('takes max (the newest), a time range, and keys that need percent-encoding', async () => {
    const all = (await api(gw, 'GET', '/v1/topics/shop/messages/by-key/order-1')).body.messages;
    expect(all).toHaveLength(6);
    const two = await api(gw, 'GET', '/v1/topics/shop/messages/by-key/order-1?max=2');
    expect(two.body.messages.map((m: any) => m.messageId)).toEqual(all.slice(-2).map((m: any) => m.messageId));
    const last = all.at(-1).storeTimestamp;
    const late = await api(gw, 'GET', `/v1/topics/shop/messages/by-key/order-1?begin=${last}`);
    expect(late.body.messages.every((m: any) => m.storeTimestamp >= last)).toBe(true);
    expect((await api(gw, 'GET', `/v1/topics/shop/messages/by-key/order-1?end=${all[0].storeTimestamp - 1}`)).body.messages).toEqual([]);

    const odd = await api(gw, 'GET', `/v1/topics/shop/messages/by-key/${encodeURIComponent('a#b/c?d%e')}`);
    expect(odd.status).toBe(200);
    expect(odd.body.messages.map((m: any) => m.body)).toEqual(['msg-7']);
    expect((await api(gw, 'GET', '/v1/topics/shop/messages/by-key/nothing-here')).body.messages).toEqual([]);
    expect((await api(gw, 'GET', '/v1/topics/shop/messages/by-key/order-1?max=0')).status).toBe(400);
    expect((await api(gw, 'GET', '/v1/topics/no-such-topic/messages/by-key/order-1')).status).toBe(404);
  });
});

describe('lookup by id', () => {
  it('finds a message by the id its send answered, on whichever broker holds it', async () => {
    for (const s of [sent[0]!, sent[17]!, sent.at(-1)!]) {
      const res = await api(gw, 'GET', `/v1/messages/${s.messageId}`);
      expect(res.status).toBe(200);
      expect(res.body.messages).toHaveLength(1);
      expect(res.body.messages[0]).toMatchObject({
        messageId: s.messageId,
        topic: 'shop',
        broker: s.broker,
        queueId: s.queueId,
        queueOffset: s.queueOffset,
        body: s.body,
        tags: s.tags,
      });
    }
  });

  it('answers 404 MESSAGE_NOT_FOUND for an unknown id', async () => {
    const res = await api(gw, 'GET', '/v1/messages/00000000000000000000000000000000');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('MESSAGE_NOT_FOUND');
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await api(gw, 'GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/messages/{messageId}'].get.responses)).toEqual(expect.arrayContaining(['200', '404']));
    const byKey = doc.paths['/v1/topics/{topic}/messages/by-key/{key}'];
    // Generated from the route definitions: path parameters are listed on the operation.
    expect(byKey.get.operationId).toBe('lookupMessagesByKey');
    expect(byKey.get.parameters.map((p: any) => p.name)).toEqual(['topic', 'key', 'begin', 'end', 'max']);
    expect(doc.paths['/v1/topics/{topic}/messages'].get.parameters.map((p: any) => p.name)).toContain('tag');
  });
});

describe('retention', () => {
  it('answers a read below the minimum with 404 OFFSET_BELOW_MINIMUM and error.details.minOffset', async () => {
    expect((await api(gw, 'POST', '/v1/topics', { topic: 'churn', queues: 1 })).status).toBe(201);
    // ~400 KiB over the two brokers' one queue each: several 64 KiB segments apiece.
    const body = 'x'.repeat(1000);
    for (let i = 0; i < 4; i++) {
      const res = await api(gw, 'POST', '/v1/topics/churn/messages', { messages: Array.from({ length: 100 }, () => ({ body })) });
      expect(res.status).toBe(200);
    }
    // Retention runs on its own timers (local, then the tier's): wait for it to settle, i.e.
    // offset 0 is gone and the minimum it names can be read.
    let err: any;
    let resumed: any;
    await waitFor('retention to delete the start of broker-a/0', 60_000, async () => {
      const res = await api(gw, 'GET', '/v1/topics/churn/messages?broker=broker-a&queueId=0&offset=0&max=1');
      if (res.status !== 404) return false;
      err = res.body.error;
      resumed = await api(gw, 'GET', `/v1/topics/churn/messages?broker=broker-a&queueId=0&offset=${err.details?.minOffset}&max=1`);
      return resumed.status === 200;
    });
    expect(err).toMatchObject({ code: 'OFFSET_BELOW_MINIMUM' });
    const minOffset = err.details.minOffset;
    expect(minOffset).toBeGreaterThan(0);
    expect(err.message).toContain(String(minOffset));
    expect(resumed.body.minOffset).toBe(minOffset);
    expect(resumed.body.messages).toHaveLength(1);
    expect(resumed.body.messages[0]).toMatchObject({ queueOffset: minOffset, body });
  }, 120_000);
});
