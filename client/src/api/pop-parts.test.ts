/**
 * GatewayClient.receiveMessages against a stand-in gateway (node:http): it asks for POP_PARTS,
 * reads a POP_PARTS answer with the direct path's decoder, still reads a JSON answer (a
 * gateway that does not know the type), and turns an error answer into its CirrusError.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeProperties } from '../codec/properties.js';
import { encodeRecord, recordSize, stampRecord } from '../codec/record.js';
import { CirrusError } from '../errors.js';
import { encodePopResult } from './broker-client.js';
import { GatewayClient } from './gateway-client.js';
import { POP_PARTS_TYPE, popPartHead } from './pop-parts.js';

function popResult(bodies: string[]): Buffer {
  const records = bodies.map((text, i) => {
    const body = Buffer.from(text);
    const properties = encodeProperties({ TAGS: 'T', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: `ID${i}`, color: 'red' });
    const size = recordSize(body.length, 'orders'.length, Buffer.byteLength(properties));
    const buf = Buffer.alloc(size);
    encodeRecord(buf, 0, { queueId: 1, sysFlag: 0, bornTimestamp: 1000 + i, reconsumeTimes: 0, body, topic: 'orders', properties });
    stampRecord(buf, 0, size, 1, 40 + i, 5000 * i, 2000 + i);
    return buf;
  });
  return encodePopResult(
    { messages: bodies.map((_, i) => ({ receiptHandle: `v2.broker-b.h${i}`, deliveryAttempt: 2, queueId: 1, queueOffset: 40 + i })) },
    records,
  );
}

let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => {};
const accepts: (string | undefined)[] = [];
const server = http.createServer((req, res) => {
  accepts.push(req.headers.accept);
  req.resume();
  req.on('end', () => answer(req, res));
});
let gateway: GatewayClient;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway = new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  gateway.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('GatewayClient.receiveMessages', () => {
  it('asks for POP_PARTS and decodes the answer as the direct path does', async () => {
    const part = popResult(['one', 'two']);
    answer = (_req, res) => {
      res.setHeader('content-type', POP_PARTS_TYPE);
      res.end(Buffer.concat([popPartHead('broker-b', part.length), part]));
    };
    const got = await gateway.receiveMessages('orders', 'g', { max: 2, waitSeconds: 0 });
    expect(accepts.at(-1)).toContain(POP_PARTS_TYPE);
    expect(got.map((m) => [m.body.toString(), m.brokerName, m.queueOffset, m.receiptHandle, m.deliveryAttempt, m.properties.color])).toEqual([
      ['one', 'broker-b', 40, 'v2.broker-b.h0', 2, 'red'],
      ['two', 'broker-b', 41, 'v2.broker-b.h1', 2, 'red'],
    ]);
  });

  it('reads a JSON answer too (a gateway without POP_PARTS)', async () => {
    const message = {
      messageId: 'ID0',
      receiptHandle: 'v2.broker-b.h0',
      deliveryAttempt: 1,
      body: 'AAE=',
      bodyEncoding: 'base64',
      tags: 'T',
      keys: ['k'],
      properties: { color: 'red' },
      broker: 'broker-b',
      queueId: 1,
      queueOffset: 40,
      bornTimestamp: 1000,
      storeTimestamp: 2000,
    };
    answer = (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ messages: [message] }));
    };
    const [m] = await gateway.receiveMessages('orders', 'g', { max: 1 });
    expect(m).toMatchObject({
      messageId: 'ID0',
      topic: 'orders',
      tags: 'T',
      keys: ['k'],
      brokerName: 'broker-b',
      queueOffset: 40,
      receiptHandle: 'v2.broker-b.h0',
    });
    expect(m!.body).toEqual(Buffer.from([0, 1]));
  });

  it('an error answer is its CirrusError', async () => {
    answer = (_req, res) => {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: { code: 'TOPIC_NOT_FOUND', message: 'no topic orders' } }));
    };
    const err = await gateway.receiveMessages('orders', 'g', { max: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CirrusError);
    expect(err).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
  });
});
