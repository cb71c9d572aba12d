/**
 * The consumer RPCs of the gRPC proxy (ReceiveMessage, AckMessage, ChangeInvisibleDuration,
 * ForwardMessageToDeadLetterQueue) against a real cluster (NameServer, two brokers, gateway,
 * gRPC proxy as processes), driven by the official RocketMQ 5 Node client
 * (rocketmq-client-nodejs) and by a raw grpc-js client:
 *   - 1,000 messages sent over gRPC, received and acked by the official SimpleConsumer, each once;
 *   - an unacked message comes back with a higher delivery attempt; a changed invisibility hands a new handle that acks;
 *     one never acked reaches %DLQ%{group} after retryMaxTimes + 1 deliveries;
 *   - long polling answers when a message arrives, and within a call deadline shorter than the poll;
 *   - a tag filter; a standard PushConsumer's failed message returns after its back-off as attempt 2;
 *   - a PushConsumer on an orderly group gets each message group's messages in send order; one it
 *     gives up on is forwarded to %DLQ%{group} and the group goes on;
 *   - cross-protocol: SDK in, gRPC out with byte-exact bodies and properties, and gRPC in, SDK out;
 *   - a raw client that cancels a long-polling receive strands nothing: another consumer gets the messages at once, first attempt;
 *   - bad receipt handles get INVALID_RECEIPT_HANDLE per entry, bad receives their codes, and the proxy keeps serving.
 */
import * as grpc from '@grpc/grpc-js';
import {
  ConsumeResult,
  type MessageView as RmqMessageView,
  type Producer as RmqProducer,
  PushConsumer,
  SimpleConsumer as RmqSimpleConsumer,
} from 'rocketmq-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MessageView, Producer, SimpleConsumer } from '@cirrusmq/client';
import { messagingServiceClient } from '../../grpc-proxy/src/proto';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { waitFor } from '../../infra/local/wait-for';
import { api, parkedReceives, startTestCluster, stopTestCluster } from '../support/cluster';
import { type MemoryLogger, memoryLogger, startOfficialProducer } from '../support/rmq-official-client';

let cluster: LocalCluster;
let endpoints: string;
let sdkProducer: Producer;
let rmqProducer: RmqProducer;
let raw: grpc.Client & Record<string, any>;
const logger = memoryLogger();
const started: { shutdown(): Promise<void> }[] = [];

const TOPICS = ['orders', 'redeliver', 'dead', 'poll', 'tags', 'push', 'fifo', 'fifo-dlq', 'sdk-in', 'grpc-in', 'cancel', 'bad'];

beforeAll(async () => {
  cluster = await startTestCluster({ grpcProxy: true });
  endpoints = cluster.grpcProxyEndpoint!;
  for (const topic of TOPICS) expect((await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic, queues: 4 })).status).toBe(201);
  sdkProducer = new Producer({ nameServer: cluster.nameServerUrl.replace(/^http:\/\//, '') });
  // One topic: the client fetches the others' routes on first send (startup's wait for settings races the route fetch of each listed topic).
  rmqProducer = await startOfficialProducer(endpoints, ['orders'], logger);
  const Client = messagingServiceClient();
  raw = new Client(endpoints, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
}, 90_000);

afterAll(async () => {
  raw?.close();
  await Promise.allSettled(started.map((c) => c.shutdown()));
  await rmqProducer?.shutdown();
  sdkProducer?.shutdown();
  await stopTestCluster(cluster);
});

/** A group that reads its topics from their start. */
async function createGroup(group: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await api(cluster.gatewayUrl, 'PUT', `/v1/groups/${group}`, { consumeFrom: 'earliest', ...extra })).status).toBe(201);
}

/** Starts an official client, bounded (startup waits for the proxy's settings with no timeout of its own). */
async function start<T extends { startup(): Promise<unknown>; shutdown(): Promise<void> }>(client: T, log: MemoryLogger = logger): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`startup took over 20 s:\n${log.lines.slice(-20).join('\n')}`)), 20_000);
  });
  try {
    await Promise.race([client.startup(), late]);
  } finally {
    clearTimeout(timer);
  }
  started.push(client);
  return client;
}

function simpleConsumer(group: string, topic: string, awaitDuration = 2_000, filter = '*'): Promise<RmqSimpleConsumer> {
  return start(
    new RmqSimpleConsumer({
      endpoints,
      namespace: '',
      consumerGroup: group,
      subscriptions: new Map([[topic, filter]]),
      awaitDuration,
      logger,
      requestTimeout: 5_000,
    }),
  );
}

/** A unary RPC over the raw client. */
function call(method: string, request: unknown): Promise<any> {
  return new Promise((resolve, reject) =>
    raw[method](request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err: Error | null, res: any) => (err ? reject(err) : resolve(res))),
  );
}

/** A ReceiveMessage over the raw client: every response of the stream, in order. */
function rawReceive(request: Record<string, unknown>): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const out: any[] = [];
    const stream = raw.ReceiveMessage(request, new grpc.Metadata(), { deadline: Date.now() + 30_000 });
    stream.on('data', (d: unknown) => out.push(d));
    stream.on('end', () => resolve(out));
    stream.on('error', reject);
  });
}

function receiveRequest(topic: string, group: string, broker: string, over: Record<string, unknown> = {}) {
  return {
    group: { name: group },
    message_queue: { topic: { name: topic }, id: 0, broker: { name: broker } },
    filter_expression: { type: 'TAG', expression: '*' },
    batch_size: 32,
    invisible_duration: { seconds: 30, nanos: 0 },
    long_polling_timeout: { seconds: 0, nanos: 0 },
    ...over,
  };
}

describe('official SimpleConsumer over gRPC', () => {
  it('receives and acks 1,000 messages sent over gRPC, each exactly once, with intact bodies, tags and keys', { timeout: 150_000 }, async () => {
    await createGroup('billing');
    const sent = new Map<string, string>();
    for (let i = 0; i < 1000; i += 20) {
      const receipts = await Promise.all(
        Array.from({ length: 20 }, (_, j) => rmqProducer.send({ topic: 'orders', body: Buffer.from(`order-${i + j}`), tag: 'TagA', keys: [`k${i + j}`] })),
      );
      receipts.forEach((r, j) => sent.set(r.messageId, `order-${i + j}`));
    }
    expect(sent.size).toBe(1000);

    const consumer = await simpleConsumer('billing', 'orders');
    const seen = new Map<string, number>();
    const deadline = Date.now() + 120_000;
    while (seen.size < 1000 && Date.now() < deadline) {
      const messages = await consumer.receive(32, 60_000);
      for (const m of messages) {
        seen.set(m.messageId, (seen.get(m.messageId) ?? 0) + 1);
        expect(m.corrupted).toBeFalsy();
        expect(m.deliveryAttempt).toBe(1);
        expect(m.body.toString()).toBe(sent.get(m.messageId));
        expect(m.tag).toBe('TagA');
        expect(m.keys).toEqual([`k${m.body.toString().slice('order-'.length)}`]);
      }
      await Promise.all(messages.map((m) => consumer.ack(m)));
    }
    expect(seen.size).toBe(1000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect([...seen.keys()].every((id) => sent.has(id))).toBe(true);
    // All acked: nothing comes back on either broker.
    expect(await consumer.receive(32, 60_000)).toEqual([]);
    expect(await consumer.receive(32, 60_000)).toEqual([]);
  });

  it('an unacked message comes back with a higher delivery attempt; a changed invisibility gives a new handle that acks', { timeout: 60_000 }, async () => {
    await createGroup('redo');
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) ids.add((await rmqProducer.send({ topic: 'redeliver', body: Buffer.from(`r${i}`) })).messageId);
    const consumer = await simpleConsumer('redo', 'redeliver', 5_000);
    const first: RmqMessageView[] = [];
    await waitFor('the first deliveries', 20_000, async () => {
      first.push(...(await consumer.receive(32, 1_000)));
      return first.length >= 4;
    });
    expect(first.map((m) => m.deliveryAttempt)).toEqual([1, 1, 1, 1]);
    // One is kept invisible longer (and acked with its new handle); the rest are left to expire.
    const kept = first[0]!;
    const oldHandle = kept.receiptHandle;
    await consumer.changeInvisibleDuration(kept, 30_000);
    expect(kept.receiptHandle).not.toBe(oldHandle);

    const again = new Map<string, number>();
    await waitFor('the redeliveries', 30_000, async () => {
      for (const m of await consumer.receive(32, 30_000)) {
        again.set(m.messageId, m.deliveryAttempt!);
        await consumer.ack(m);
      }
      return again.size >= 3;
    });
    expect(new Set(again.keys())).toEqual(new Set(first.slice(1).map((m) => m.messageId)));
    expect([...again.values()]).toEqual([2, 2, 2]);
    await consumer.ack(kept);
    // The handle replaced by the change no longer works.
    const res = await call('AckMessage', {
      group: { name: 'redo' },
      topic: { name: 'redeliver' },
      entries: [{ message_id: kept.messageId, receipt_handle: oldHandle }],
    });
    expect(res.status.code).toBe('INVALID_RECEIPT_HANDLE');
  });
});

describe('retries and the dead-letter queue, as for HTTP consumers', () => {
  it('a message never acked goes to %DLQ%{group} after retryMaxTimes + 1 deliveries', { timeout: 60_000 }, async () => {
    await createGroup('dlq-simple', { retryMaxTimes: 1 });
    const { messageId } = await rmqProducer.send({ topic: 'dead', body: Buffer.from('poison') });
    const consumer = await simpleConsumer('dlq-simple', 'dead', 3_000);
    const attempts: number[] = [];
    await waitFor('two deliveries', 30_000, async () => {
      for (const m of await consumer.receive(32, 1_000)) if (m.messageId === messageId) attempts.push(m.deliveryAttempt!);
      return attempts.length >= 2;
    });
    expect(attempts).toEqual([1, 2]);
    const progress = async () => (await api(cluster.gatewayUrl, 'GET', '/v1/topics/dead/groups/dlq-simple')).body;
    await waitFor('the dead letter', 20_000, async () => (await progress()).deadLettered === 1);
    expect(await consumer.receive(32, 1_000)).toEqual([]);
  });
});

describe('long polling', () => {
  it('a parked receive answers as soon as a message arrives, and one whose deadline comes first answers MESSAGE_NOT_FOUND before it', {
    timeout: 60_000,
  }, async () => {
    await createGroup('poller');
    const brokerIndex = 1;
    const broker = cluster.config.brokers[brokerIndex]!.brokerName;
    // A 2 s deadline and a 20 s long poll: the poll is cut to fit, the answer is a status, not DEADLINE_EXCEEDED.
    const t0 = Date.now();
    const short = await new Promise<any[]>((resolve, reject) => {
      const out: any[] = [];
      const stream = raw.ReceiveMessage(receiveRequest('poll', 'poller', broker, { long_polling_timeout: { seconds: 20, nanos: 0 } }), new grpc.Metadata(), {
        deadline: Date.now() + 2_000,
      });
      stream.on('data', (d: unknown) => out.push(d));
      stream.on('end', () => resolve(out));
      stream.on('error', reject);
    });
    expect(short[0].status.code).toBe('MESSAGE_NOT_FOUND');
    expect(Date.now() - t0).toBeLessThan(2_000);

    const before = await parkedReceives(cluster);
    const started = Date.now();
    const waiting = rawReceive(receiveRequest('poll', 'poller', broker, { long_polling_timeout: { seconds: 20, nanos: 0 } }));
    await waitFor('the receive parked', 10_000, async () => (await parkedReceives(cluster))[brokerIndex]! > before[brokerIndex]!);
    // Round robin over both brokers' 4 queues: 4 of the 8 land on the waiting one.
    for (let i = 0; i < 8; i++) await sdkProducer.send({ topic: 'poll', body: `p${i}` });
    const got = await waiting;
    expect(got[0].status.code).toBe('OK');
    expect(got.filter((r) => r.message).length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('official SimpleConsumer with a tag filter', () => {
  it('gets only the messages of its tags', { timeout: 60_000 }, async () => {
    await createGroup('tagged');
    const wanted = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await rmqProducer.send({ topic: 'tags', body: Buffer.from(`t${i}`), tag: i % 2 === 0 ? 'TagA' : 'TagB' });
      if (i % 2 === 0) wanted.add(r.messageId);
    }
    const consumer = await simpleConsumer('tagged', 'tags', 1_000, 'TagA || TagC');
    const got = new Map<string, string>();
    await waitFor('the TagA messages', 20_000, async () => {
      for (const m of await consumer.receive(32, 30_000)) {
        got.set(m.messageId, m.tag!);
        await consumer.ack(m);
      }
      return got.size >= wanted.size;
    });
    // Both brokers asked again: nothing else comes.
    for (let i = 0; i < 2; i++) for (const m of await consumer.receive(32, 30_000)) got.set(m.messageId, m.tag!);
    expect(new Set(got.keys())).toEqual(wanted);
    expect(new Set(got.values())).toEqual(new Set(['TagA']));
  });
});

describe('official PushConsumer', () => {
  it('a failed message comes back after the back-off as its next attempt, then is acked', { timeout: 60_000 }, async () => {
    await createGroup('pusher');
    for (let i = 0; i < 5; i++) await rmqProducer.send({ topic: 'push', body: Buffer.from(`p${i}`) });
    const deliveries: { body: string; attempt: number; at: number }[] = [];
    await start(
      new PushConsumer({
        endpoints,
        namespace: '',
        consumerGroup: 'pusher',
        subscriptions: new Map([['push', '*']]),
        logger,
        requestTimeout: 5_000,
        messageListener: {
          consume(m: RmqMessageView) {
            deliveries.push({ body: m.body.toString(), attempt: m.deliveryAttempt!, at: Date.now() });
            return m.body.toString() === 'p2' && m.deliveryAttempt === 1 ? ConsumeResult.FAILURE : ConsumeResult.SUCCESS;
          },
        },
      }),
    );
    await waitFor('p2 again', 30_000, async () => deliveries.some((d) => d.body === 'p2' && d.attempt === 2));
    const p2 = deliveries.filter((d) => d.body === 'p2');
    expect(p2.map((d) => d.attempt)).toEqual([1, 2]);
    // The nack is a change of invisibility by the client's back-off (1 s first).
    expect(p2[1]!.at - p2[0]!.at).toBeGreaterThanOrEqual(900);
    await waitFor('all five', 10_000, async () => new Set(deliveries.map((d) => d.body)).size === 5);
    const progress = async () => (await api(cluster.gatewayUrl, 'GET', '/v1/topics/push/groups/pusher')).body;
    await waitFor('every lease acked', 10_000, async () => (await progress()).totals.inFlight === 0 && (await progress()).totals.lag === 0);
    expect(deliveries).toHaveLength(6);
  });
});

describe('official PushConsumer on an orderly group', () => {
  it("gets each message group's messages in send order, each once", { timeout: 120_000 }, async () => {
    await createGroup('fifo-reader', { orderly: true });
    const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
    const PER_GROUP = 40;
    // Each group's sends one after another (that is their order); the groups at once.
    await Promise.all(
      groups.map(async (g) => {
        for (let i = 0; i < PER_GROUP; i++) await rmqProducer.send({ topic: 'fifo', body: Buffer.from(`${g}:${i}`), messageGroup: g });
      }),
    );
    const got = new Map<string, number[]>(groups.map((g) => [g, []]));
    const wrongGroup: string[] = [];
    let total = 0;
    await start(
      new PushConsumer({
        endpoints,
        namespace: '',
        consumerGroup: 'fifo-reader',
        subscriptions: new Map([['fifo', '*']]),
        logger,
        requestTimeout: 5_000,
        messageListener: {
          consume(m: RmqMessageView) {
            const [g, i] = m.body.toString().split(':');
            if (m.messageGroup !== g) wrongGroup.push(m.body.toString());
            got.get(g!)!.push(Number(i));
            total++;
            return ConsumeResult.SUCCESS;
          },
        },
      }),
    );
    await waitFor('every message', 90_000, async () => total >= groups.length * PER_GROUP);
    for (const g of groups) expect(got.get(g)).toEqual(Array.from({ length: PER_GROUP }, (_, i) => i));
    expect(wrongGroup).toEqual([]);
  });

  it('a message it gives up on is forwarded to %DLQ%{group} and the group goes on', { timeout: 90_000 }, async () => {
    // retryMaxTimes 1: the client tries twice, then forwards the message to the dead-letter queue.
    await createGroup('fifo-dlq-reader', { orderly: true, retryMaxTimes: 1 });
    for (let i = 0; i < 3; i++) await rmqProducer.send({ topic: 'fifo-dlq', body: Buffer.from(`m${i}`), messageGroup: 'only' });
    const seen: string[] = [];
    let poisoned = true;
    await start(
      new PushConsumer({
        endpoints,
        namespace: '',
        consumerGroup: 'fifo-dlq-reader',
        subscriptions: new Map([['fifo-dlq', '*']]),
        logger,
        requestTimeout: 5_000,
        messageListener: {
          consume(m: RmqMessageView) {
            seen.push(m.body.toString());
            return poisoned && m.body.toString() === 'm1' ? ConsumeResult.FAILURE : ConsumeResult.SUCCESS;
          },
        },
      }),
    );
    await waitFor('m2 after the poison message', 60_000, async () => seen.includes('m2'));
    // Tried twice (the client's local retry), forwarded, then the group went on.
    expect(seen).toEqual(['m0', 'm1', 'm1', 'm2']);
    // The dead letter is where the gateway's redrive finds it, with its origin: sent back, it is consumed again.
    poisoned = false;
    const redrive = await api(cluster.gatewayUrl, 'POST', '/v1/groups/fifo-dlq-reader/dlq/redrive', { max: 100 });
    expect(redrive.body).toMatchObject({ redriven: 1 });
    await waitFor('the redriven message', 30_000, async () => seen.length === 5);
    expect(seen[4]).toBe('m1');
  });
});

describe('cross-protocol', () => {
  it('sent with the SDK over HTTP, received over gRPC with byte-exact bodies and the same properties', { timeout: 60_000 }, async () => {
    await createGroup('x-grpc');
    const bodies = [Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]), Buffer.from('héllo wörld ✓'), Buffer.from([0]), Buffer.alloc(300_000, 7)];
    const sent = new Map<string, number>();
    for (let i = 0; i < bodies.length; i++) {
      const r = await sdkProducer.send({ topic: 'sdk-in', body: bodies[i]!, tags: `T${i}`, keys: ['a', `b${i}`], properties: { color: 'blue', n: String(i) } });
      sent.set(r.messageId, i);
    }
    const consumer = await simpleConsumer('x-grpc', 'sdk-in');
    const got = new Map<string, RmqMessageView>();
    await waitFor('the SDK messages over gRPC', 30_000, async () => {
      for (const m of await consumer.receive(32, 30_000)) {
        got.set(m.messageId, m);
        await consumer.ack(m);
      }
      return got.size >= bodies.length;
    });
    for (const [id, i] of sent) {
      const m = got.get(id)!;
      expect(m.corrupted).toBeFalsy();
      expect(Buffer.compare(m.body, bodies[i]!)).toBe(0);
      expect(m.tag).toBe(`T${i}`);
      expect(m.keys).toEqual(['a', `b${i}`]);
      expect(Object.fromEntries(m.properties)).toEqual({ color: 'blue', n: String(i) });
      expect(m.bornTimestamp).toBeInstanceOf(Date);
    }
  });

  it('sent over gRPC, received with the SDK SimpleConsumer with the same id, body, tag, keys and properties', { timeout: 60_000 }, async () => {
    await createGroup('x-sdk');
    const body = Buffer.from([9, 8, 7, 0, 0xff]);
    const receipt = await rmqProducer.send({ topic: 'grpc-in', body, tag: 'Tg', keys: ['k1', 'k2'], properties: new Map([['shape', 'round']]) });
    const consumer = new SimpleConsumer({
      nameServer: cluster.nameServerUrl.replace(/^http:\/\//, ''),
      group: 'x-sdk',
      topics: ['grpc-in'],
      awaitDuration: 1_000,
    });
    try {
      const got: MessageView[] = [];
      await waitFor('the gRPC message with the SDK', 20_000, async () => {
        got.push(...(await consumer.receive(32)));
        return got.length > 0;
      });
      expect(got).toHaveLength(1);
      const m = got[0]!;
      expect(m.messageId).toBe(receipt.messageId);
      expect(Buffer.compare(m.body, body)).toBe(0);
      expect(m.tags).toBe('Tg');
      expect(m.keys).toEqual(['k1', 'k2']);
      expect(m.properties).toMatchObject({ shape: 'round' });
      await consumer.ack(m);
    } finally {
      consumer.close();
    }
  });
});

describe('a client that goes away mid-receive', () => {
  it('strands nothing: the messages its long poll leased go to another consumer at once, as first deliveries', { timeout: 60_000 }, async () => {
    await createGroup('cancel-g');
    const brokerIndex = 0;
    const broker = cluster.config.brokers[brokerIndex]!.brokerName;
    const before = await parkedReceives(cluster);
    // A 60 s lease: if the proxy did not hand it back, the messages would be invisible for a minute.
    const stream = raw.ReceiveMessage(
      receiveRequest('cancel', 'cancel-g', broker, { invisible_duration: { seconds: 60, nanos: 0 }, long_polling_timeout: { seconds: 20, nanos: 0 } }),
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
    );
    const ended = new Promise<void>((resolve) => stream.on('error', () => resolve()).on('end', () => resolve()));
    await waitFor('the receive parked on the broker', 10_000, async () => (await parkedReceives(cluster))[brokerIndex]! > before[brokerIndex]!);
    stream.cancel();
    await ended;
    // Sent while the abandoned long poll is still parked on the broker: it leases them.
    // One at a time: the producer's round robin puts 4 of the 8 on each broker's 4 queues.
    const sent = new Set<string>();
    for (let i = 0; i < 8; i++) sent.add((await sdkProducer.send({ topic: 'cancel', body: `c${i}` })).messageId);
    await waitFor('the abandoned long poll answered', 10_000, async () => (await parkedReceives(cluster))[brokerIndex]! <= before[brokerIndex]!);

    const consumer = await simpleConsumer('cancel-g', 'cancel', 1_000);
    const got = new Map<string, number>();
    const t0 = Date.now();
    await waitFor('every message, well before the 60 s lease', 15_000, async () => {
      for (const m of await consumer.receive(32, 30_000)) {
        got.set(m.messageId, m.deliveryAttempt!);
        await consumer.ack(m);
      }
      return got.size >= sent.size;
    });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(new Set(got.keys())).toEqual(sent);
    expect([...got.values()].every((a) => a === 1)).toBe(true);
  });
});

describe('bad input', () => {
  it('bad receipt handles get INVALID_RECEIPT_HANDLE per entry, the good one is acked, and the proxy keeps serving', { timeout: 60_000 }, async () => {
    await createGroup('bad-g');
    for (let i = 0; i < 4; i++) await sdkProducer.send({ topic: 'bad', body: `b${i}` });
    const broker = cluster.config.brokers[0]!.brokerName;
    const messages: any[] = [];
    await waitFor('messages over a raw receive', 20_000, async () => {
      for (const { brokerName } of cluster.config.brokers) {
        const res = await rawReceive(receiveRequest('bad', 'bad-g', brokerName));
        messages.push(...res.filter((r) => r.message).map((r) => r.message));
      }
      return messages.length > 0;
    });
    const good = messages[0].system_properties.receipt_handle as string;
    const [v, name, body] = good.split('.');
    const forged = `${v}.${name}.${body!.slice(0, -4)}AAAA`;
    const entries = [forged, 'garbage', `v2.no-such-broker.${body}`, good].map((h, i) => ({ message_id: `m${i}`, receipt_handle: h }));

    const mixed = await call('AckMessage', { group: { name: 'bad-g' }, topic: { name: 'bad' }, entries });
    expect(mixed.status.code).toBe('MULTIPLE_RESULTS');
    expect(mixed.entries.map((e: any) => e.status.code)).toEqual(['INVALID_RECEIPT_HANDLE', 'INVALID_RECEIPT_HANDLE', 'INVALID_RECEIPT_HANDLE', 'OK']);
    expect(mixed.entries.map((e: any) => e.message_id)).toEqual(['m0', 'm1', 'm2', 'm3']);
    // The same good handle again: it was acked, so it is invalid now; all alike, so the overall status is that one.
    const again = await call('AckMessage', { group: { name: 'bad-g' }, topic: { name: 'bad' }, entries: [entries[3], entries[0]] });
    expect(again.status.code).toBe('INVALID_RECEIPT_HANDLE');

    const change = await call('ChangeInvisibleDuration', {
      group: { name: 'bad-g' },
      topic: { name: 'bad' },
      receipt_handle: forged,
      invisible_duration: { seconds: 5, nanos: 0 },
      message_id: 'm0',
    });
    expect(change.status.code).toBe('INVALID_RECEIPT_HANDLE');
    const forward = await call('ForwardMessageToDeadLetterQueue', {
      group: { name: 'bad-g' },
      topic: { name: 'bad' },
      receipt_handle: 'garbage',
      message_id: 'm0',
      delivery_attempt: 1,
      max_delivery_attempts: 2,
    });
    expect(forward.status.code).toBe('INVALID_RECEIPT_HANDLE');
    expect((await call('AckMessage', { group: { name: 'bad-g' }, topic: { name: 'bad' }, entries: [] })).status.code).toBe('BAD_REQUEST');

    // Bad receives: each its code, as a status alone.
    const statusOf = async (over: Record<string, unknown>, topic = 'bad', group = 'bad-g') => {
      const res = await rawReceive(receiveRequest(topic, group, broker, over));
      expect(res[0].status).toBeTruthy();
      return res[0].status.code as string;
    };
    expect(await statusOf({}, 'no-such-topic')).toBe('TOPIC_NOT_FOUND');
    expect(await statusOf({}, 'bad', '%DLQ%x')).toBe('ILLEGAL_CONSUMER_GROUP');
    expect(await statusOf({ filter_expression: { type: 'SQL', expression: 'a > 1' } })).toBe('UNSUPPORTED');
    expect(await statusOf({ filter_expression: { type: 'TAG', expression: 'A ||' } })).toBe('ILLEGAL_FILTER_EXPRESSION');
    expect(await statusOf({ invisible_duration: null })).toBe('ILLEGAL_INVISIBLE_TIME');
    expect(await statusOf({ message_queue: { topic: { name: 'bad' }, id: 0, broker: { name: 'no-such-broker' } } })).toBe('NOT_FOUND');

    // Still serving: the other messages are there, first attempt; an empty receive says MESSAGE_NOT_FOUND.
    const left: any[] = [];
    for (const { brokerName } of cluster.config.brokers) {
      const res = await rawReceive(receiveRequest('bad', 'bad-g', brokerName));
      expect(res[0].status.code).toMatch(/^(OK|MESSAGE_NOT_FOUND)$/);
      expect(res.at(-1).delivery_timestamp).toBeTruthy();
      left.push(...res.filter((r) => r.message).map((r) => r.message));
    }
    expect(left.length + messages.length).toBe(4);
    expect(left.every((m) => m.system_properties.delivery_attempt === 1)).toBe(true);
    const empty = await rawReceive(receiveRequest('bad', 'bad-g', broker));
    expect(empty.map((r) => r.content)).toEqual(['status', 'delivery_timestamp']);
    expect(empty[0].status.code).toBe('MESSAGE_NOT_FOUND');
  });
});
