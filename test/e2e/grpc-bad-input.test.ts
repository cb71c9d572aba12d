/**
 * Bad input to the gRPC proxy, over real processes: a request that is not protobuf, unknown
 * and invalid topics, an oversize or empty body, bad tags and property names, message kinds
 * CirrusMQ cannot store yet, an unknown client type on Telemetry, an RPC it does not serve.
 * Each gets the status or RocketMQ Code Apache's proxy answers (so the official clients
 * throw the same exceptions), and the proxy keeps serving: a good send works after each.
 */
import * as grpc from '@grpc/grpc-js';
import { NotFoundException, type Producer } from 'rocketmq-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagingServiceClient } from '../../grpc-proxy/src/proto';
import type { LocalCluster } from '../../infra/local/local-cluster';
import { api, startTestCluster, stopTestCluster } from '../support/cluster';
import { sample } from '../support/prometheus-text';
import { startOfficialProducer } from '../support/rmq-official-client';

const TOPIC = 'grpc-bad-input';
const MAX_BODY = 4 * 1024 * 1024;
let cluster: LocalCluster;
let endpoints: string;
let raw: grpc.Client & Record<string, any>;
let producer: Producer;

beforeAll(async () => {
  cluster = await startTestCluster({ brokers: ['broker-a'], grpcProxy: true });
  endpoints = cluster.grpcProxyEndpoint!;
  const res = await api(cluster.gatewayUrl, 'POST', '/v1/topics', { topic: TOPIC, queues: 2 });
  expect(res.status).toBe(201);
  const Client = messagingServiceClient();
  raw = new Client(endpoints, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 * 1024 * 1024 }) as any;
  producer = await startOfficialProducer(endpoints, [TOPIC]);
}, 120_000);
afterAll(async () => {
  await producer?.shutdown().catch(() => {});
  raw?.close();
  await stopTestCluster(cluster);
});

function metadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-mq-client-id', 'bad-input-test');
  return md;
}

/** A unary call on the raw client, with a deadline. */
function call(method: string, request: object): Promise<any> {
  return new Promise((resolve, reject) => {
    raw[method](request, metadata(), { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res)));
  });
}

function message(fields: { topic?: string; body?: Buffer; type?: string; tag?: string; properties?: Record<string, string>; deliveryAt?: number } = {}) {
  const system_properties: Record<string, unknown> = {
    message_id: '01ABCDEF0123456789ABCDEF0123456789',
    message_type: fields.type ?? 'NORMAL',
    body_encoding: 'IDENTITY',
    born_timestamp: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    born_host: 'test',
  };
  if (fields.tag !== undefined) system_properties.tag = fields.tag;
  if (fields.deliveryAt !== undefined) system_properties.delivery_timestamp = { seconds: Math.floor(fields.deliveryAt / 1000), nanos: 0 };
  return { topic: { name: fields.topic ?? TOPIC }, body: fields.body ?? Buffer.from('hello'), user_properties: fields.properties ?? {}, system_properties };
}

async function sendCode(m: object): Promise<string> {
  const res = await call('SendMessage', { messages: [m] });
  expect(res.entries.length).toBe(1);
  expect(res.entries[0].status.code).toBe(res.status.code);
  return res.status.code;
}

/** The proxy still serves: a raw good send and an official client's send both succeed. */
async function expectStillServing(): Promise<void> {
  expect(await sendCode(message())).toBe('OK');
  const receipt = await producer.send({ topic: TOPIC, body: Buffer.from('still serving') });
  expect(receipt.messageId).toMatch(/^[0-9A-F]+$/);
}

describe('bad input over gRPC', () => {
  it('answers a request that is not protobuf with gRPC INTERNAL and keeps serving', async () => {
    const client = new grpc.Client(endpoints, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client.makeUnaryRequest(
          '/apache.rocketmq.v2.MessagingService/SendMessage',
          (b: Buffer) => b,
          (b: Buffer) => b,
          // Field 1 (messages), length-delimited, claiming 2^35 bytes that never come.
          Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01]),
          metadata(),
          { deadline: Date.now() + 10_000 },
          (e, res) => (e ? resolve(e) : reject(new Error(`answered ${String(res)}`))),
        );
      });
      expect(err.code).toBe(grpc.status.INTERNAL);
      expect(err.details).toMatch(/deserializ/i);
    } finally {
      client.close();
    }
    await expectStillServing();
  });

  it('answers an unknown topic with TOPIC_NOT_FOUND, on QueryRoute and SendMessage, and the official client throws NotFoundException', async () => {
    const route = await call('QueryRoute', { topic: { name: 'no-such-topic' }, endpoints: { scheme: 'IPv4', addresses: [{ host: '127.0.0.1', port: 1 }] } });
    expect(route.status.code).toBe('TOPIC_NOT_FOUND');
    expect(route.message_queues).toEqual([]);
    expect(await sendCode(message({ topic: 'no-such-topic' }))).toBe('TOPIC_NOT_FOUND');
    await expect(producer.send({ topic: 'no-such-topic', body: Buffer.from('x') })).rejects.toBeInstanceOf(NotFoundException);
    await expectStillServing();
  });

  it('answers invalid and reserved topic names with ILLEGAL_TOPIC', async () => {
    expect((await call('QueryRoute', { topic: { name: 'bad topic!' } })).status.code).toBe('ILLEGAL_TOPIC');
    expect((await call('QueryRoute', { topic: { name: '' } })).status.code).toBe('ILLEGAL_TOPIC');
    expect(await sendCode(message({ topic: 'bad topic!' }))).toBe('ILLEGAL_TOPIC');
    expect(await sendCode(message({ topic: '%DLQ%some-group' }))).toBe('ILLEGAL_TOPIC');
    expect(await sendCode(message({ topic: 'x'.repeat(200) }))).toBe('ILLEGAL_TOPIC');
    await expectStillServing();
  });

  it('answers an oversize body with MESSAGE_BODY_TOO_LARGE and an empty one with MESSAGE_BODY_EMPTY; a body of exactly the limit is stored', async () => {
    expect(await sendCode(message({ body: Buffer.alloc(MAX_BODY + 1, 1) }))).toBe('MESSAGE_BODY_TOO_LARGE');
    expect(await sendCode(message({ body: Buffer.alloc(0) }))).toBe('MESSAGE_BODY_EMPTY');
    expect(await sendCode(message({ body: Buffer.alloc(MAX_BODY, 2) }))).toBe('OK');
    await expectStillServing();
  }, 60_000);

  it('answers bad tags, reserved property names and mixed topics with their codes', async () => {
    expect(await sendCode(message({ tag: 'a||b' }))).toBe('ILLEGAL_MESSAGE_TAG');
    expect(await sendCode(message({ properties: { KEYS: 'x' } }))).toBe('ILLEGAL_MESSAGE_PROPERTY_KEY');
    expect(await sendCode(message({ type: 'FIFO' }))).toBe('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE');
    const mixed = await call('SendMessage', { messages: [message(), message({ topic: 'other-topic' })] });
    expect(mixed.status.code).toBe('BAD_REQUEST');
    expect((await call('SendMessage', { messages: [] })).status.code).toBe('BAD_REQUEST');
    await expectStillServing();
  });

  it('answers a DELAY message without a delivery time (or a time on another type), one past the horizon, bad recalls, and transactional messages in conflict with their type, with their codes', async () => {
    expect(await sendCode(message({ type: 'DELAY' }))).toBe('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE');
    expect(await sendCode(message({ type: 'NORMAL', deliveryAt: Date.now() + 60_000 }))).toBe('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE');
    expect(await sendCode(message({ type: 'DELAY', deliveryAt: Date.now() + 400 * 86_400_000 }))).toBe('ILLEGAL_DELIVERY_TIME');
    expect((await call('RecallMessage', { topic: { name: TOPIC }, recall_handle: 'not a handle' })).status.code).toBe('BAD_REQUEST');
    expect((await call('RecallMessage', { topic: { name: TOPIC }, recall_handle: '0123456789ABCDEF0123456789ABCDEF' })).status.code).toBe('NOT_FOUND');
    // A transactional message is stored (grpc-transactions.test.ts); with a message group or a delivery time it conflicts with its type.
    expect(
      await sendCode({ ...message({ type: 'TRANSACTION' }), system_properties: { ...message({ type: 'TRANSACTION' }).system_properties, message_group: 'g' } }),
    ).toBe('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE');
    expect(await sendCode(message({ type: 'TRANSACTION', deliveryAt: Date.now() + 60_000 }))).toBe('MESSAGE_PROPERTY_CONFLICT_WITH_TYPE');
    expect((await call('EndTransaction', { topic: { name: TOPIC }, message_id: 'x', transaction_id: 'y', resolution: 'COMMIT' })).status.code).toBe(
      'INVALID_TRANSACTION_ID',
    );
    await expectStillServing();
  });

  it('answers Telemetry settings of an unknown client type with a status (the client does not wait forever), and an RPC it does not serve with UNIMPLEMENTED', async () => {
    const stream = raw.Telemetry(metadata());
    const answer = new Promise<any>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
      setTimeout(() => reject(new Error('no Telemetry answer within 10 s')), 10_000).unref();
    });
    stream.write({ settings: { client_type: 'CLIENT_TYPE_UNSPECIFIED' } });
    const command = await answer;
    expect(command.status.code).toBe('UNRECOGNIZED_CLIENT_TYPE');
    expect(command.command).toBeUndefined();
    stream.end();
    const err = await call('QueryOffset', { message_queue: { topic: { name: TOPIC }, id: 0 } }).catch((e: grpc.ServiceError) => e);
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    await expectStillServing();
  });
  it('answers QueryAssignment from the group settings at the NameServer: one broker-wide queue per broker, one per queue for an orderly group; no group is ILLEGAL_CONSUMER_GROUP', async () => {
    const ep = { scheme: 'IPv4', addresses: [{ host: 'lb.example', port: 8081 }] };
    const plain = await call('QueryAssignment', { topic: { name: TOPIC }, group: { name: 'grpc-plain-group' }, endpoints: ep });
    expect(plain.status.code).toBe('OK');
    expect(plain.assignments.map((a: any) => `${a.message_queue.broker.name}/${a.message_queue.id}`)).toEqual(['broker-a/-1']);
    expect(plain.assignments[0].message_queue.broker.endpoints.addresses).toEqual([{ host: 'lb.example', port: 8081 }]);
    const put = await api(cluster.nameServerUrl, 'PUT', '/v1/groups/grpc-fifo-group', { orderly: true });
    expect([200, 201]).toContain(put.status);
    const fifo = await call('QueryAssignment', { topic: { name: TOPIC }, group: { name: 'grpc-fifo-group' }, endpoints: ep });
    expect(fifo.assignments.map((a: any) => `${a.message_queue.broker.name}/${a.message_queue.id}`)).toEqual(['broker-a/0', 'broker-a/1']);
    expect((await call('QueryAssignment', { topic: { name: TOPIC }, group: { name: '' }, endpoints: ep })).status.code).toBe('ILLEGAL_CONSUMER_GROUP');
    expect((await call('QueryAssignment', { topic: { name: 'no-such-topic' }, group: { name: 'g' }, endpoints: ep })).status.code).toBe('TOPIC_NOT_FOUND');
    await expectStillServing();
  });

  it('counts what it answered on GET /metrics of the health port: RPCs by method and Code, streams open', async () => {
    const res = await fetch(`http://127.0.0.1:${cluster.config.grpcProxy!.healthPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const count = (method: string, code: string) => sample(text, 'cirrusmq_grpc_proxy_rpc_duration_seconds_count', { method, code }) ?? 0;
    // The earlier cases of this file: invalid topic names x3, oversize bodies, good sends.
    expect(count('SendMessage', 'ILLEGAL_TOPIC')).toBeGreaterThanOrEqual(3);
    expect(count('SendMessage', 'MESSAGE_BODY_TOO_LARGE')).toBeGreaterThanOrEqual(1);
    expect(count('SendMessage', 'OK')).toBeGreaterThanOrEqual(7);
    expect(count('QueryRoute', 'TOPIC_NOT_FOUND')).toBeGreaterThanOrEqual(1);
    // The official producer's Telemetry session is still open.
    expect(sample(text, 'cirrusmq_grpc_proxy_streams_open', { method: 'Telemetry' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'cirrusmq_grpc_proxy_process_cpu_seconds_total')).toBeGreaterThan(0);
  });
});
