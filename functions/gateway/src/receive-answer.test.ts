import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodePopResult,
  encodePopResult,
  encodeProperties,
  encodeRecord,
  type PoppedMessage,
  recordSize,
  stampRecord,
  SysFlag,
} from '@cirrusmq/client/protocol';
import { messageToJson } from './message-json';
import { splitPopResult } from './pop-records';
import { lambdaWeight } from './read-answer';
import { needsNoEscape, receiveAnswer } from './receive-answer';

/** The route's encoding before receiveAnswer: JSON.stringify of each decoded message. */
function encodeReceived(m: PoppedMessage, base64 = false): string {
  const j = messageToJson(m, base64);
  return JSON.stringify({
    messageId: j.messageId,
    receiptHandle: m.receiptHandle,
    deliveryAttempt: m.deliveryAttempt,
    body: j.body,
    bodyEncoding: j.bodyEncoding,
    tags: j.tags,
    keys: j.keys,
    properties: j.properties,
    broker: m.brokerName,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    bornTimestamp: j.bornTimestamp,
    storeTimestamp: j.storeTimestamp,
  });
}
const reference = (ms: readonly PoppedMessage[]) => `{"messages":[${ms.map((m) => encodeReceived(m)).join(',')}]}`;

interface Stored {
  body: Buffer;
  /** In stored order; TAGS, KEYS and UNIQ_CLIENT_MESSAGE_ID_KEYIDX among them. */
  properties: Record<string, string>;
  compressed?: boolean;
}

/** A broker's POP answer holding these messages: records as the CommitLog stores them, leases in the meta. */
function popResult(stored: readonly Stored[]): Buffer {
  const records = stored.map((s, i) => {
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
    messages: stored.map((_, i) => ({ receiptHandle: `v2.broker-a.h${i}`, deliveryAttempt: 1 + (i % 3), queueId: i % 4, queueOffset: 2 ** 40 + i })),
  };
  return encodePopResult(meta, records);
}

const ids = (i: number) => ({ TAGS: 'TagA', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: `ID${i}` });
const MIXED: Stored[] = [
  Buffer.from('plain ascii text that needs no escape'),
  Buffer.alloc(1024, 'cirrusmq-benchmark-payload-'),
  Buffer.from('{"a":"quotes"}'),
  Buffer.from('back\\slash'),
  Buffer.from('line\nbreak\ttab\u0000nul\u001f'),
  Buffer.from('h\u00e9llo \u4e16\u754c \ud83d\ude00 \u2028 \u007f'),
  Buffer.from([0xff, 0xfe, 0x00, 0x80]), // not UTF-8: base64
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate is not UTF-8 either
  Buffer.alloc(0),
  Buffer.from('abc\u0001'),
]
  .map((body, i): Stored => ({ body, properties: ids(i) }))
  .concat([
    { body: Buffer.alloc(3000, 'compressed '), properties: ids(10), compressed: true },
    {
      body: Buffer.from('properties in every shape'),
      properties: {
        zeta: 'z',
        '10': 'ten',
        KEYS: 'k1 k"2"',
        '2': 'two',
        TAGS: 'x',
        'na\u00efve': 'v\n',
        __SHARDINGKEY: 's',
        zeta2: 'first',
        UNIQ_CLIENT_MESSAGE_ID_KEYIDX: 'id with "quote"',
      },
    },
    { body: Buffer.from('no tags, no id, empty keys'), properties: { KEYS: '' } },
  ]);

describe('the receive answer', () => {
  it('is byte for byte the JSON.stringify text of every decoded message, written straight from the records', () => {
    const answer = popResult(MIXED);
    const decoded = decodePopResult(answer, 'broker-a');
    const expected = reference(decoded);
    const fromRecords = receiveAnswer(splitPopResult(answer, 'broker-a'), 6_000_000);
    expect(fromRecords.count).toBe(MIXED.length);
    expect(fromRecords.body.toString('utf8')).toBe(expected);
    const odd = JSON.parse(expected).messages[11];
    expect([odd.messageId, odd.tags, odd.keys]).toEqual(['id with "quote"', 'x', ['k1', 'k"2"']]);
    expect(odd.properties).toEqual({ '2': 'two', '10': 'ten', zeta: 'z', 'na\u00efve': 'v\n', zeta2: 'first' });
    expect(JSON.parse(expected).messages[12]).toMatchObject({ messageId: '', keys: [] });
    expect(receiveAnswer([], 100).body.toString()).toBe('{"messages":[]}');
  });

  it('grows past its first guess when escaping makes a body many times its size', () => {
    const answer = popResult([
      { body: Buffer.alloc(5000, 1), properties: ids(0) },
      { body: Buffer.alloc(3000, '"'), properties: ids(1) },
    ]);
    expect(receiveAnswer(splitPopResult(answer, 'broker-a'), 6_000_000).body.toString('utf8')).toBe(reference(decodePopResult(answer, 'broker-a')));
  });

  it('past half the budget, weighs each message and keeps the prefix that fits, as capMessages does', () => {
    const answer = popResult(['a', 'b', 'c'].map((c, i) => ({ body: Buffer.alloc(400, c), properties: ids(i) })));
    const decoded = decodePopResult(answer, 'broker-a');
    const weight = lambdaWeight(encodeReceived(decoded[0]!));
    // Room for two exact weights and a comma, not for three: the fast path's bound (2x the bytes) is over it.
    const kept = receiveAnswer(splitPopResult(answer, 'broker-a'), 2 * weight + 1 + 10);
    expect(kept.count).toBe(2);
    expect(kept.body.toString('utf8')).toBe(reference(decoded.slice(0, 2)));
    // A first message too big as text still goes, as base64.
    const quotes = popResult([
      { body: Buffer.alloc(300, '"'), properties: ids(0) },
      { body: Buffer.from('next'), properties: ids(1) },
    ]);
    const alone = receiveAnswer(splitPopResult(quotes, 'broker-a'), 1000);
    expect(alone.count).toBe(1);
    expect(alone.body.toString('utf8')).toBe(`{"messages":[${encodeReceived(decodePopResult(quotes, 'broker-a')[0]!, true)}]}`);
  });

  it('refuses a pop answer whose records are corrupt or do not match its leases', () => {
    const answer = popResult(MIXED.slice(0, 3));
    const flipped = Buffer.from(answer);
    flipped[flipped.length - 20]! ^= 1;
    expect(() => splitPopResult(flipped, 'broker-a')).toThrow(/corrupt record/);
    const metaLength = answer.readUInt32BE(0);
    const meta = JSON.parse(answer.toString('utf8', 4, 4 + metaLength));
    const records = answer.subarray(4 + metaLength);
    expect(() => splitPopResult(encodePopResult({ messages: meta.messages.slice(1) }, records), 'broker-a')).toThrow(/3 records for 2 leases/);
    expect(() => splitPopResult(encodePopResult({ messages: [...meta.messages, meta.messages[0]] }, records), 'broker-a')).toThrow(/3 records for 4 leases/);
  });

  it('for POP_PARTS reads the leases only when one is asked for, and checks their count then', () => {
    const answer = popResult(MIXED.slice(0, 3));
    const metaLength = answer.readUInt32BE(0);
    const meta = JSON.parse(answer.toString('utf8', 4, 4 + metaLength));
    const records = answer.subarray(4 + metaLength);
    const split = splitPopResult(answer, 'broker-a', false);
    expect(split.map((r) => [r.pos, r.brokerName])).toHaveLength(3);
    expect(split.map((r) => r.receiptHandle)).toEqual(meta.messages.map((m: { receiptHandle: string }) => m.receiptHandle));
    expect(split[2]!.lease).toEqual(meta.messages[2]);
    const short = splitPopResult(encodePopResult({ messages: meta.messages.slice(1) }, records), 'broker-a', false);
    expect(short).toHaveLength(3);
    expect(() => short[0]!.receiptHandle).toThrow(/3 records for 2 leases/);
  });

  it('finds what JSON would escape at any offset and alignment', () => {
    const backing = Buffer.alloc(64);
    for (let trial = 0; trial < 20_000; trial++) {
      const start = trial % 5;
      const len = (trial * 7) % 40;
      const b = backing.subarray(start, start + len);
      for (let i = 0; i < b.length; i++) b[i] = 0x20 + ((trial + i * 13) % 0x5f); // printable ASCII
      if (trial % 2 === 0 && len > 0) b[(trial * 3) % len] = [0x00, 0x0a, 0x1f, 0x22, 0x5c][trial % 5]!;
      const text = b.toString('latin1');
      expect(needsNoEscape(b), JSON.stringify(text)).toBe(JSON.stringify(text) === `"${text}"`);
    }
  });
});
