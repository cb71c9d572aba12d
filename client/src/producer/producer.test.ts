import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NameServerApi } from '../api/nameserver-client.js';
import type { BrokerSendResponse, TopicRouteData } from '../api/types.js';
import { decodeSendBatch } from '../codec/send-batch.js';
import { Producer } from './producer.js';
import { selectQueueByHash } from './select-queue-by-hash.js';

/** A broker that stores nothing but answers like one, and one address that refuses connections. */
let broker: http.Server;
let brokerAddr: string;
const deadAddr = '127.0.0.1:1';
const received: { queueId: number; count: number }[] = [];

beforeAll(async () => {
  let nextOffset = 0;
  broker = http.createServer((req, res) => {
    // An older broker: it knows no remoting, so the client's upgrade gets a 404 and the calls go over HTTP.
    if (req.url === '/v1/remoting') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const batch = decodeSendBatch(Buffer.concat(chunks), 1000);
      received.push({ queueId: batch.queueId, count: batch.records.length });
      const answer: BrokerSendResponse = {
        status: 'SEND_OK',
        brokerName: 'broker-b',
        queueId: batch.queueId,
        queueOffset: nextOffset,
        count: batch.records.length,
        commitLogOffset: 0,
      };
      nextOffset += batch.records.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r));
  brokerAddr = `127.0.0.1:${(broker.address() as AddressInfo).port}`;
});
afterAll(() => broker.close());

function nameServer(): NameServerApi & { calls: number } {
  const ns = {
    calls: 0,
    async getRouteInfoByTopic(topic: string): Promise<TopicRouteData> {
      ns.calls++;
      return {
        topic,
        queueDatas: [
          { brokerName: 'broker-a', readQueueNums: 2, writeQueueNums: 2, perm: 6 },
          { brokerName: 'broker-b', readQueueNums: 2, writeQueueNums: 2, perm: 6 },
        ],
        brokerDatas: [
          { cluster: 'c', brokerName: 'broker-a', brokerAddrs: { '0': deadAddr } },
          { cluster: 'c', brokerName: 'broker-b', brokerAddrs: { '0': brokerAddr } },
        ],
        filterServerTable: {},
      };
    },
  };
  return ns as unknown as NameServerApi & { calls: number };
}

describe('Producer', () => {
  it('retries a failed send on another broker and then avoids the failed one', async () => {
    const ns = nameServer();
    const producer = new Producer({ nameServer: ns });
    for (let i = 0; i < 20; i++) {
      const r = await producer.send({ topic: 't', body: Buffer.from(`m${i}`) });
      expect(r.status).toBe('SEND_OK');
      expect(r.messageQueue.brokerName).toBe('broker-b');
    }
    // one lookup, one refresh after the single failure; afterwards broker-a is isolated
    expect(ns.calls).toBeLessThanOrEqual(2);
    producer.shutdown();
  });

  it('gives one result per message, in order, with contiguous offsets and unique ids', async () => {
    const producer = new Producer({ nameServer: nameServer(), brokerIsolationMs: 60_000 });
    const msgs = Array.from({ length: 5 }, (_, i) => ({ topic: 't', body: Buffer.from(`x${i}`) }));
    const results = await producer.sendMessages('t', msgs);
    const ok = results.filter((r) => r.status === 'SEND_OK') as { queueOffset: number; messageId: string }[];
    expect(ok).toHaveLength(5);
    expect(ok.map((r) => r.queueOffset - ok[0]!.queueOffset)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(ok.map((r) => r.messageId)).size).toBe(5);
    producer.shutdown();
  });

  it('sends each sharding key to its one hashed queue, in one request', async () => {
    const producer = new Producer({ nameServer: nameServer(), retryTimesWhenSendFailed: 0 });
    const list = (await producer.routes.get('t')).messageQueueList;
    const key = Array.from({ length: 100 }, (_, i) => `order-${i}`).find((k) => selectQueueByHash(list, k).brokerName === 'broker-b')!;
    const expected = selectQueueByHash(list, key);
    received.length = 0;
    const outcomes = await producer.sendMessages('t', [
      { topic: 't', body: Buffer.from('1'), shardingKey: key },
      { topic: 't', body: Buffer.from('2'), shardingKey: key },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['SEND_OK', 'SEND_OK']);
    expect(received).toEqual([{ queueId: expected.queueId, count: 2 }]);
    producer.shutdown();
  });

  it('rejects bad input before sending anything', async () => {
    const producer = new Producer({ nameServer: nameServer() });
    received.length = 0;
    expect(() => producer.prepareBatch('t', [])).toThrow(expect.objectContaining({ code: 'EMPTY_BATCH' }));
    expect(() =>
      producer.prepareBatch('t', [
        { topic: 't', body: Buffer.from('a') },
        { topic: 't', body: Buffer.alloc(0) },
      ]),
    ).toThrow(/messages\[1\]/);
    expect(() => producer.prepareBatch('%DLQ%x', [{ topic: '%DLQ%x', body: Buffer.from('a') }])).toThrow(expect.objectContaining({ code: 'RESERVED_TOPIC' }));
    expect(received).toHaveLength(0);
    producer.shutdown();
  });
});
