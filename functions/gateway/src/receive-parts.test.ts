import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  acceptsPopParts,
  decodePopParts,
  decodePopResult,
  encodePopResult,
  encodeProperties,
  encodeRecord,
  MessageConst,
  popPartHead,
  type PoppedMessage,
  type ReceivedMessageJson,
  recordSize,
  stampRecord,
  SysFlag,
} from '@cirrusmq/client/protocol';
import { type LeasedRecord, splitPopResult } from './pop-records';
import { receiveAnswer } from './receive-answer';
import { popPartsAnswer } from './receive-parts';

interface Stored {
  body: Buffer;
  properties: Record<string, string>;
  compressed?: boolean;
}

/** A broker's POP answer holding these messages: records as the CommitLog stores them, leases in the meta. */
function popResult(stored: readonly Stored[], broker: string, first = 0): Buffer {
  const records = stored.map((s, k) => {
    const i = first + k;
    const body = s.compressed ? deflateSync(s.body) : s.body;
    const properties = encodeProperties(s.properties);
    const size = recordSize(body.length, 'orders'.length, Buffer.byteLength(properties));
    const buf = Buffer.alloc(size);
    encodeRecord(buf, 0, {
      queueId: i % 4,
      sysFlag: s.compressed ? SysFlag.COMPRESSED : 0,
      bornTimestamp: 1_764_524_000_000 + i,
      reconsumeTimes: 0,
      body,
      topic: 'orders',
      properties,
    });
    stampRecord(buf, 0, size, i % 4, 2 ** 40 + i, 5000 * i, 1_764_524_000_500 + i);
    return buf;
  });
  const meta = {
    messages: stored.map((_, k) => ({
      receiptHandle: `v2.${broker}.h${first + k}`,
      deliveryAttempt: 1 + ((first + k) % 3),
      queueId: (first + k) % 4,
      queueOffset: 2 ** 40 + first + k,
    })),
  };
  return encodePopResult(meta, records);
}

const ids = (i: number) => ({ TAGS: 'TagA', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: `ID${i}` });
const MIXED: Stored[] = [
  Buffer.alloc(1024, 'cirrusmq-benchmark-payload-'),
  Buffer.from('{"a":"quotes"} back\\slash line\nbreak\u0000'),
  Buffer.from('h\u00e9llo \u4e16\u754c \ud83d\ude00 \u2028'),
  Buffer.from([0xff, 0xfe, 0x00, 0x80]),
  Buffer.alloc(0),
]
  .map((body, i): Stored => ({ body, properties: ids(i) }))
  .concat([
    { body: Buffer.alloc(3000, 'compressed '), properties: ids(5), compressed: true },
    { body: Buffer.from('properties'), properties: { zeta: 'z', KEYS: 'k1 k"2"', TAGS: 'x', 'na\u00efve': 'v\n', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: 'id "q"' } },
    { body: Buffer.from('no tags, no id, empty keys'), properties: { KEYS: '' } },
  ]);

const RESERVED = new Set<string>(Object.values(MessageConst));

/** What a consumer sees of a message, whichever form it came in (user properties only: JSON carries no others). */
function seen(m: PoppedMessage) {
  return {
    messageId: m.messageId,
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
    receiptHandle: m.receiptHandle,
  };
}

/** The JSON answer's messages, seen as seen() sees a decoded one. */
const fromJson = (records: LeasedRecord[]) =>
  (JSON.parse(receiveAnswer(records, 6_000_000).body.toString('utf8')) as { messages: ReceivedMessageJson[] }).messages.map((m) => ({
    messageId: m.messageId,
    body: Buffer.from(m.body, m.bodyEncoding).toString('hex'),
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
  }));

const bodyOf = (a: { parts: Buffer[] }) => Buffer.concat(a.parts);

describe('the receive answer as POP_PARTS', () => {
  it('gives the same messages as the JSON answer, across brokers, and passes a whole broker answer through untouched', () => {
    const a = popResult(MIXED, 'broker-a');
    const b = popResult(MIXED.slice(0, 3), 'broker-b', 100);
    const records = [...splitPopResult(a, 'broker-a'), ...splitPopResult(b, 'broker-b')];
    const answer = popPartsAnswer(records, 6_000_000);
    expect(answer.count).toBe(MIXED.length + 3);
    expect(Buffer.concat(answer.parts)).toEqual(Buffer.concat([popPartHead('broker-a', a.length), a, popPartHead('broker-b', b.length), b]));
    const binary = decodePopParts(bodyOf(answer));
    expect(binary.map(seen)).toEqual(fromJson(records));
    // Decoded by the direct path's decoder: the same objects a consumer gets from the broker.
    expect(binary).toEqual([...decodePopResult(a, 'broker-a'), ...decodePopResult(b, 'broker-b')]);
  });

  it('rebuilds the part of records split from their answer (a hand-over takes some of a late answer)', () => {
    const a = splitPopResult(popResult(MIXED, 'broker-a'), 'broker-a');
    const some = [a[1]!, a[2]!, a[5]!, a[7]!];
    const answer = popPartsAnswer(some, 6_000_000);
    expect(answer.count).toBe(4);
    expect(decodePopParts(bodyOf(answer)).map(seen)).toEqual(fromJson(some));
    expect(decodePopParts(bodyOf(answer)).map((m) => m.receiptHandle)).toEqual(['v2.broker-a.h1', 'v2.broker-a.h2', 'v2.broker-a.h5', 'v2.broker-a.h7']);
  });

  it('answers no bytes for no message', () => {
    const answer = popPartsAnswer([], 6_000_000);
    expect(answer).toEqual({ parts: [], count: 0 });
    expect(decodePopParts(bodyOf(answer))).toEqual([]);
  });

  it('holds the longest prefix whose base64 fits the budget, and always the first message', () => {
    const big = Array.from({ length: 6 }, (_, i): Stored => ({ body: Buffer.alloc(10_000, i), properties: ids(i) }));
    const records = splitPopResult(popResult(big, 'broker-a'), 'broker-a');
    const capped = popPartsAnswer(records, 4 * Math.ceil(35_000 / 3));
    expect(capped.count).toBe(3);
    expect(4 * Math.ceil(bodyOf(capped).length / 3)).toBeLessThanOrEqual(4 * Math.ceil(35_000 / 3));
    expect(decodePopParts(bodyOf(capped)).map(seen)).toEqual(fromJson(records.slice(0, 3)));
    const alone = popPartsAnswer(records, 100);
    expect(alone.count).toBe(1);
    expect(decodePopParts(bodyOf(alone)).map((m) => m.receiptHandle)).toEqual(['v2.broker-a.h0']);
  });

  it('a truncated or corrupt body is an error, not fewer messages', () => {
    const body = bodyOf(popPartsAnswer(splitPopResult(popResult(MIXED, 'broker-a'), 'broker-a'), 6_000_000));
    expect(() => decodePopParts(body.subarray(0, body.length - 1))).toThrow(/truncated/);
    expect(() => decodePopParts(body.subarray(0, 5))).toThrow(/truncated/);
    const flipped = Buffer.from(body);
    flipped[flipped.length - 20] ^= 1;
    expect(() => decodePopParts(flipped)).toThrow(/corrupt record/);
  });

  it('is chosen by an Accept header that lists its type', () => {
    expect(acceptsPopParts(undefined)).toBe(false);
    expect(acceptsPopParts('application/json')).toBe(false);
    expect(acceptsPopParts('*/*')).toBe(false);
    expect(acceptsPopParts('application/vnd.cirrusmq.pop-parts')).toBe(true);
    expect(acceptsPopParts('application/vnd.cirrusmq.pop-parts, application/json;q=0.5')).toBe(true);
    expect(acceptsPopParts('application/json, Application/Vnd.CirrusMQ.Pop-Parts ; q=0.9')).toBe(true);
    expect(acceptsPopParts('application/vnd.cirrusmq.pop-parts;q=0')).toBe(false);
    expect(acceptsPopParts('application/vnd.cirrusmq.pop-parts-v2')).toBe(false);
  });
});
