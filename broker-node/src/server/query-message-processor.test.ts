/** The broker's read-side HTTP API for tags, lookups and retention, through BrokerClient and raw HTTP. */
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerClient, CirrusError, ContentTypes, decodeRecords, PullHeaders, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { TopicConfigManager } from '../topic-config-manager';
import { createBrokerServer } from './broker-server';

let dir: string;
let store: DefaultMessageStore;
let server: http.Server;
let base: string;
let client: BrokerClient;

beforeEach(async () => {
  dir = tempDir();
  store = new DefaultMessageStore(
    {
      storeDir: dir,
      commitLogSegmentBytes: 4096,
      consumeQueueUnitsPerFile: 8,
      flushIntervalMs: 20,
      indexHashSlotNum: 64,
      indexNum: 256,
      cleanIntervalMs: 3_600_000,
      preallocateSegments: false,
    },
    silentLogger,
  ).load();
  const nameServer = new FakeNameServer();
  nameServer.addTopic('Orders', 4);
  server = createBrokerServer({
    brokerName: 'broker-a',
    store,
    topicConfigManager: new TopicConfigManager('broker-a', nameServer),
    logger: silentLogger,
    acceptingWrites: () => true,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new BrokerClient(base);
});

afterEach(async () => {
  client.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.shutdown();
  removeDir(dir);
});

async function get(path: string) {
  const res = await fetch(base + path);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function rejection(p: Promise<unknown>): Promise<CirrusError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CirrusError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('GET /v1/messages with tag=', () => {
  it('reads only the tags of the expression; BrokerClient.pull takes the expression', async () => {
    await store.putMessages(
      makeBatch('Orders', 0, [
        { body: 'a', tags: 'TagA' },
        { body: 'b', tags: 'TagB' },
        { body: 'c', tags: 'TagC' },
        { body: 'aa', tags: 'Aa' },
        { body: 'bb', tags: 'BB' },
      ]),
    );
    const raw = await get(`/v1/messages?topic=Orders&queueId=0&offset=0&tag=${encodeURIComponent('TagA || TagC')}`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get(PullHeaders.COUNT)).toBe('2');
    expect(raw.headers.get(PullHeaders.NEXT_OFFSET)).toBe('5');
    expect(decodeRecords(raw.body).map((m) => m.body.toString())).toEqual(['a', 'c']);

    const pulled = await client.pull('Orders', 0, 0, 32, 'BB');
    expect(pulled.messages.map((m) => m.body.toString())).toEqual(['bb']);
    expect(pulled.nextOffset).toBe(5);
    expect((await client.pull('Orders', 0, 0, 32, '*')).messages).toHaveLength(5);
    expect((await client.pull('Orders', 0, 0, 32)).messages).toHaveLength(5);
  });

  it('refuses a bad expression with 400 INVALID_PARAMETER (and the client before sending)', async () => {
    const raw = await get(`/v1/messages?topic=Orders&queueId=0&offset=0&tag=${encodeURIComponent('TagA ||')}`);
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body.toString()).error.code).toBe('INVALID_PARAMETER');
    expect((await rejection(client.pull('Orders', 0, 0, 32, '|| x'))).code).toBe('INVALID_PARAMETER');
  });
});

describe('GET /v1/messages/by-key and /v1/messages/by-id/{id}', () => {
  it('answers records by key, newest max, within a time range', async () => {
    await store.putMessages(
      makeBatch('Orders', 0, [
        { body: 'o1', keys: ['order-1'] },
        { body: 'o2', keys: ['order-2'] },
      ]),
    );
    await store.putMessages(makeBatch('Orders', 3, [{ body: 'o1b', keys: ['order-1', 'x'] }]));
    const raw = await get('/v1/messages/by-key?topic=Orders&key=order-1');
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe(ContentTypes.RECORDS);
    expect(raw.headers.get(PullHeaders.COUNT)).toBe('2');
    expect(decodeRecords(raw.body).map((m) => [m.body.toString(), m.queueId])).toEqual([
      ['o1', 0],
      ['o1b', 3],
    ]);
    expect((await client.queryMessage('Orders', 'order-1', { max: 1 })).map((m) => m.body.toString())).toEqual(['o1b']);
    const stored = (await client.queryMessage('Orders', 'order-2'))[0]!;
    expect(await client.queryMessage('Orders', 'order-2', { begin: stored.storeTimestamp + 1 })).toEqual([]);
    expect(await client.queryMessage('Orders', 'order-2', { begin: stored.storeTimestamp, end: stored.storeTimestamp })).toHaveLength(1);
    expect(await client.queryMessage('Orders', 'none')).toEqual([]);
  });

  it('answers a message by id, and an empty answer for an unknown one', async () => {
    await store.putMessages(makeBatch('Orders', 1, [{ body: 'hello', keys: ['k'] }]));
    const id = decodeRecords((await store.getMessage('Orders', 1, 0, 1)).records)[0]!.messageId;
    const found = await client.viewMessage(id);
    expect(found.map((m) => [m.body.toString(), m.topic, m.queueId, m.messageId])).toEqual([['hello', 'Orders', 1, id]]);
    const raw = await get(`/v1/messages/by-id/${id}?ignored=1`);
    expect(raw.headers.get(PullHeaders.COUNT)).toBe('1');
    expect(await client.viewMessage('0A0B0C0D0E0F')).toEqual([]);
    expect(await client.viewMessage('with space/and#hash')).toEqual([]);
  });

  it('refuses bad lookup parameters with 400', async () => {
    for (const q of [
      'topic=Orders',
      'key=k',
      'topic=bad%20topic&key=k',
      'topic=Orders&key=k&max=0',
      'topic=Orders&key=k&begin=10&end=5',
      'topic=Orders&key=k&begin=x',
    ]) {
      const r = await get(`/v1/messages/by-key?${q}`);
      expect(r.status, q).toBe(400);
    }
    expect((await get('/v1/messages/by-id/%E0%A4%A')).status).toBe(400);
    expect((await get('/v1/messages/by-id/')).status).toBe(404);
  });
});

describe('reads below the retention minimum', () => {
  it('answer 404 OFFSET_BELOW_MINIMUM with error.details.minOffset, which BrokerClient keeps', async () => {
    for (let i = 0; i < 60; i++) await store.putMessages(makeBatch('Orders', 0, [{ body: `m${i}-${'x'.repeat(60)}` }]));
    const segments = [...store.commitLog.mappedFileQueue.mappedFiles];
    expect(segments.length).toBeGreaterThan(2);
    store.flush();
    const old = new Date(Date.now() - 100 * 3_600_000);
    for (const s of segments.slice(0, -1)) fs.utimesSync(s.fileName, old, old);
    expect(store.cleanCommitLogService.run().deletedSegments).toBe(segments.length - 1);
    const minOffset = (await store.getMessage('Orders', 0, 1_000, 1)).minOffset;
    expect(minOffset).toBeGreaterThan(0);

    const raw = await get('/v1/messages?topic=Orders&queueId=0&offset=0');
    expect(raw.status).toBe(404);
    const body = JSON.parse(raw.body.toString());
    expect(body.error).toMatchObject({ code: 'OFFSET_BELOW_MINIMUM', details: { minOffset } });
    expect(body.error.message).toContain(String(minOffset));

    const err = await rejection(client.pull('Orders', 0, 0, 10));
    expect(err).toMatchObject({ code: 'OFFSET_BELOW_MINIMUM', status: 404, details: { minOffset } });
    expect((await client.pull('Orders', 0, minOffset, 10)).messages[0]!.queueOffset).toBe(minOffset);
  });
});
