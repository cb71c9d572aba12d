/**
 * The receive answer's two forms against a real cluster (NameServer, two brokers, gateway as
 * processes): the same stored messages read by one group as JSON (the default, what curl
 * gets) and by another as POP_PARTS (what the SDK's gateway backend asks for) are the same
 * messages, field by field, for bodies of every kind (binary, compressed, text needing
 * escapes), tags, keys and properties; both forms' leases ack. A SimpleConsumer through the
 * gateway (POP_PARTS) sees what a direct one sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MessageView, Producer, SimpleConsumer } from '@cirrusmq/client';
import { GatewayClient, MessageConst, type ReceivedMessageJson } from '@cirrusmq/client/protocol';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';

let cluster: LocalCluster;
let producer: Producer;
let gateway: GatewayClient;

beforeAll(async () => {
  cluster = await startTestCluster();
  producer = new Producer({ nameServer: cluster.nameServerUrl.replace(/^http:\/\//, '') });
  gateway = new GatewayClient(cluster.gatewayUrl);
}, 60_000);
afterAll(async () => {
  producer?.shutdown();
  gateway?.close();
  await stopTestCluster(cluster);
});

const TOPIC = 'forms';
const BODIES: (string | Buffer)[] = [
  'plain text',
  '{"quoted":"json"} back\\slash\nnew line\u0000',
  'h\u00e9llo \u4e16\u754c \ud83d\ude00',
  Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x22]),
  '\t',
  'x'.repeat(8000), // compressed by the producer (over its threshold)
  Buffer.alloc(3000, 7),
];
const RESERVED = new Set<string>(Object.values(MessageConst));

/** A message as the two forms must agree on it. */
const fields = (m: MessageView) => ({
  messageId: m.messageId,
  topic: m.topic,
  body: m.body.toString('hex'),
  tags: m.tags,
  keys: m.keys,
  properties: Object.fromEntries(Object.entries(m.properties).filter(([k]) => !RESERVED.has(k))),
  brokerName: m.brokerName,
  queueId: m.queueId,
  queueOffset: m.queueOffset,
  bornTimestamp: m.bornTimestamp,
  storeTimestamp: m.storeTimestamp,
  deliveryAttempt: m.deliveryAttempt,
});

const fromJson = (m: ReceivedMessageJson): MessageView => ({
  messageId: m.messageId,
  topic: TOPIC,
  body: Buffer.from(m.body, m.bodyEncoding),
  tags: m.tags,
  keys: m.keys,
  properties: m.properties,
  brokerName: m.broker,
  queueId: m.queueId,
  queueOffset: m.queueOffset,
  bornTimestamp: m.bornTimestamp,
  storeTimestamp: m.storeTimestamp,
  deliveryAttempt: m.deliveryAttempt,
  receiptHandle: m.receiptHandle,
});

/** Receives with `receive` until `n` messages came; acks each batch through the gateway. */
async function readAll(group: string, n: number, receive: () => Promise<MessageView[]>): Promise<Map<string, MessageView>> {
  const got = new Map<string, MessageView>();
  await waitFor(`${n} messages for ${group}`, 60_000, async () => {
    const batch = await receive();
    if (batch.length > 0) {
      const { results } = await gateway.ack(
        TOPIC,
        group,
        batch.map((m) => m.receiptHandle),
      );
      expect(results.map((r) => r.status)).toEqual(batch.map(() => 'OK'));
    }
    for (const m of batch) got.set(m.messageId, m);
    return got.size >= n;
  });
  return got;
}

describe('the receive answer as JSON and as POP_PARTS', () => {
  it('gives the same messages, and the leases of both ack', async () => {
    expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: TOPIC, queues: 2 })).status).toBe(201);
    const sent = await producer.sendBatch(
      Array.from({ length: 40 }, (_, i) => ({
        topic: TOPIC,
        body: BODIES[i % BODIES.length]!,
        ...(i % 3 === 0 ? {} : { tags: `Tag${i % 3}` }),
        keys: i % 2 === 0 ? [`k${i}`, 'shared-key'] : [],
        properties: (i % 4 === 0 ? {} : { index: String(i), 'na\u00efve "quoted"': 'v\n' }) as Record<string, string>,
      })),
    );
    expect(sent.every((r) => r.status === 'SEND_OK')).toBe(true);
    for (const group of ['as-json', 'as-parts'])
      expect((await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest' })).status).toBe(201);
    const request = { max: 7, waitSeconds: 0, invisibleSeconds: 60 };
    const json = await readAll('as-json', 40, async () => (await gateway.receive(TOPIC, 'as-json', request)).map(fromJson));
    const parts = await readAll('as-parts', 40, () => gateway.receiveMessages(TOPIC, 'as-parts', request));
    expect(parts.size).toBe(40);
    expect(new Set(parts.keys())).toEqual(new Set(sent.map((r) => r.messageId)));
    for (const [id, m] of parts) expect(fields(m)).toEqual(fields(json.get(id)!));
  }, 120_000);

  it('a SimpleConsumer through the gateway sees what a direct one sees (reserved properties too)', async () => {
    for (const group of ['sdk-direct', 'sdk-gateway'])
      expect((await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest' })).status).toBe(201);
    const direct = new SimpleConsumer({
      nameServer: cluster.nameServerUrl.replace(/^http:\/\//, ''),
      group: 'sdk-direct',
      topics: [TOPIC],
      awaitDuration: 1000,
    });
    const viaGateway = new SimpleConsumer({ gateway: cluster.gatewayUrl, group: 'sdk-gateway', topics: [TOPIC], awaitDuration: 1000 });
    try {
      const read = async (c: SimpleConsumer) => {
        const got = new Map<string, MessageView>();
        await waitFor('every message', 60_000, async () => {
          const batch = await c.receive(16);
          expect((await c.ackAll(batch)).every((e) => !e)).toBe(true);
          for (const m of batch) got.set(m.messageId, m);
          return got.size >= 40;
        });
        return got;
      };
      const [a, b] = [await read(direct), await read(viaGateway)];
      expect(b.size).toBe(40);
      const whole = (m: MessageView) => ({ ...m, receiptHandle: '_' });
      for (const [id, m] of b) expect(whole(m)).toEqual(whole(a.get(id)!));
    } finally {
      direct.close();
      viaGateway.close();
    }
  }, 120_000);
});
