/**
 * A receive that carries acks (the receive route's `ack`) against a real cluster (NameServer,
 * two brokers, gateway as processes): the handles are acked as the ack route acks them, their
 * results come back with the messages in both answer forms, bad handles fail per entry, bad
 * lists are refused whole, and a SimpleConsumer through the gateway that acks a batch and asks
 * for the next in one go makes one request per batch and never sees an acked message again.
 * Such a receive asks the broker of its acks first (one broker call for both), yet every broker
 * with messages is served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MessageView, Producer, SimpleConsumer } from '@cirrusmq/client';
import { decodePopPartsAnswer, GatewayClient, POP_PARTS_TYPE, receiptHandleBroker } from '@cirrusmq/client/protocol';
import type { LocalCluster } from '../../infra/local/local-cluster';
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

const TOPIC = 'carried-acks';

/** A gateway counter from /metrics. */
async function counter(name: string): Promise<number> {
  const text = await (await fetch(`${cluster.gatewayUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

const receivePath = (group: string) => `/v1/topics/${TOPIC}/groups/${group}/receive`;

describe('a receive that carries acks', () => {
  beforeAll(async () => {
    expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: TOPIC, queues: 2 })).status).toBe(201);
    const sent = await producer.sendBatch(Array.from({ length: 40 }, (_, i) => ({ topic: TOPIC, body: `m${i}` })));
    expect(sent.every((r) => r.status === 'SEND_OK')).toBe(true);
    for (const group of ['json', 'parts', 'refused', 'loop', 'sticky'])
      expect((await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest' })).status).toBe(201);
  });

  it('acks the handles first and answers their results with the next messages, as JSON and as POP_PARTS', async () => {
    const first = await api(cluster.gatewayUrl, 'POST', receivePath('json'), { max: 5, invisibleSeconds: 60 });
    expect(first.status).toBe(200);
    expect(first.body.ackResults).toBeUndefined();
    const handles: string[] = first.body.messages.map((m: { receiptHandle: string }) => m.receiptHandle);
    expect(handles.length).toBeGreaterThan(0);
    // The forged handle (an edited one) and an unknown broker's fail alone; the rest are acked.
    const forged = `${handles[0]!.slice(0, -2)}xx`;
    const second = await api(cluster.gatewayUrl, 'POST', receivePath('json'), {
      max: 5,
      invisibleSeconds: 60,
      ack: [...handles, forged, 'v2.nobroker.x'],
    });
    expect(second.status).toBe(200);
    expect(second.body.ackResults.slice(0, handles.length)).toEqual(handles.map(() => ({ status: 'OK' })));
    expect(second.body.ackResults.slice(handles.length).map((r: { error: { code: string } }) => r.error.code)).toEqual([
      'INVALID_RECEIPT_HANDLE',
      'INVALID_RECEIPT_HANDLE',
    ]);
    expect(second.body.messages.length).toBeGreaterThan(0);
    // Acked once: a second ack of the same handles finds their leases ended.
    const again = await api(cluster.gatewayUrl, 'POST', `/v1/topics/${TOPIC}/groups/json/ack`, { receiptHandles: handles });
    expect(again.body.results.every((r: { status: string }) => r.status === 'FAILED')).toBe(true);

    // POP_PARTS: the ack results' part first (empty broker name), then the messages.
    const got = await gateway.receiveWithAcks(TOPIC, 'parts', { max: 5, invisibleSeconds: 60 });
    expect(got.ackResults).toBeUndefined();
    const next = await gateway.receiveWithAcks(TOPIC, 'parts', { max: 5, invisibleSeconds: 60, ack: got.messages.map((m) => m.receiptHandle) });
    expect(next.ackResults).toEqual(got.messages.map(() => ({ status: 'OK' })));
    expect(next.messages.length).toBeGreaterThan(0);
    const raw = await fetch(cluster.gatewayUrl + receivePath('parts'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: POP_PARTS_TYPE },
      body: JSON.stringify({ max: 1, ack: next.messages.map((m) => m.receiptHandle) }),
    });
    const body = Buffer.from(await raw.arrayBuffer());
    expect(body.readUInt16BE(0)).toBe(0);
    expect(decodePopPartsAnswer(body).ackResults).toEqual(next.messages.map(() => ({ status: 'OK' })));
  });

  it('refuses an empty, oversized or malformed ack list whole (400), acking nothing', async () => {
    const leased = await api(cluster.gatewayUrl, 'POST', receivePath('refused'), { max: 2, invisibleSeconds: 60 });
    const handles: string[] = leased.body.messages.map((m: { receiptHandle: string }) => m.receiptHandle);
    for (const ack of [[], Array.from({ length: 101 }, () => handles[0]), [handles[0], 7], 'v2.a.b', [handles[0], '']]) {
      const res = await api(cluster.gatewayUrl, 'POST', receivePath('refused'), { max: 1, ack });
      expect(res.status, JSON.stringify(ack).slice(0, 80)).toBe(400);
      expect(res.body.error.code).toBe('INVALID_PARAMETER');
    }
    // Nothing was acked: the handles still ack.
    const ok = await api(cluster.gatewayUrl, 'POST', `/v1/topics/${TOPIC}/groups/refused/ack`, { receiptHandles: handles });
    expect(ok.body.results).toEqual(handles.map(() => ({ status: 'OK' })));
  });

  it('a SimpleConsumer that acks a batch and asks for the next in one go: one request per batch, every message once', async () => {
    const group = 'loop';
    const consumer = new SimpleConsumer({ gateway: cluster.gatewayUrl, group, topics: [TOPIC], awaitDuration: 1000 });
    const acksBefore = await counter('cirrusmq_gateway_ack_requests_total');
    const okBefore = await counter('cirrusmq_gateway_acks_ok_total');
    const seen: string[] = [];
    let acked = 0;
    let acking: Promise<unknown> = Promise.resolve();
    try {
      for (;;) {
        const batch: MessageView[] = await consumer.receive(7, 60_000);
        if (batch.length === 0) break;
        for (const m of batch) seen.push(m.body.toString());
        acking = consumer.ackAll(batch).then((errs) => (acked += errs.filter((e) => e === null).length));
      }
      await acking;
    } finally {
      consumer.close();
    }
    expect(seen.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
    expect(acked).toBe(40);
    expect(await counter('cirrusmq_gateway_acks_ok_total')).toBe(okBefore + 40);
    // Every batch's acks rode on the next receive (the last batch's on the one that found none left).
    expect(await counter('cirrusmq_gateway_ack_requests_total')).toBe(acksBefore);
    // The acks held: the group has nothing in flight.
    const progress = await api(cluster.gatewayUrl, 'GET', `/v1/topics/${TOPIC}/groups/${group}`);
    expect(progress.body.totals.inFlight).toBe(0);
  });
  it('a receive that carries acks asks their broker first, and every broker with messages is still served', async () => {
    // Sent after the tests above read theirs: 200 more in 20 batches, which go to the queues in
    // turn (a batch is one queue), so 100 on each broker.
    for (let b = 0; b < 20; b++) {
      const sent = await producer.sendBatch(Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, body: `s${b * 10 + i}` })));
      expect(sent.every((r) => r.status === 'SEND_OK')).toBe(true);
    }
    const brokerOf = (handles: string[]) => receiptHandleBroker(handles[0]!);
    let carried = 0;
    let sameBroker = 0;
    const answeredBy = new Set<string>();
    let handles: string[] = [];
    // 90 messages: fewer than either broker holds for the group (100 or more), so none runs dry
    // and the fallback to the next broker never comes into it.
    for (let i = 0; i < 30; i++) {
      const res = await api(cluster.gatewayUrl, 'POST', receivePath('sticky'), {
        max: 3,
        invisibleSeconds: 60,
        ...(handles.length > 0 ? { ack: handles } : {}),
      });
      expect(res.status).toBe(200);
      if (handles.length > 0) expect(res.body.ackResults).toEqual(handles.map(() => ({ status: 'OK' })));
      const next: string[] = res.body.messages.map((m: { receiptHandle: string }) => m.receiptHandle);
      expect(next.length).toBeGreaterThan(0);
      answeredBy.add(brokerOf(next)!);
      if (handles.length > 0) {
        carried++;
        if (brokerOf(next) === brokerOf(handles)) sameBroker++;
      }
      handles = next;
    }
    // Rotating alone would answer about half from the acks' broker; the sticky start nearly all
    // (all but the rotated eighth's other half).
    expect(sameBroker / carried).toBeGreaterThan(0.8);
    expect([...answeredBy].sort()).toEqual(['broker-a', 'broker-b']);
  });
});
