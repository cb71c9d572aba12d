import { describe, expect, it } from 'vitest';
import type { PoppedMessage } from '@cirrusmq/client/protocol';
import { lambdaWeight } from './read-answer';
import { encodeReceived, needsNoEscape, receiveAnswer } from './receive-answer';

let seq = 0;
function popped(body: Buffer, extra: Partial<PoppedMessage> = {}): PoppedMessage {
  seq++;
  return {
    topic: 'orders',
    queueId: seq % 4,
    queueOffset: 1000 + seq,
    commitLogOffset: 0,
    sysFlag: 0,
    bornTimestamp: 1_764_524_000_000 + seq,
    storeTimestamp: 1_764_524_000_100 + seq,
    reconsumeTimes: 0,
    body,
    properties: { TAGS: 'TagA', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: `ID${seq}` },
    messageId: `ID${seq}`,
    tags: 'TagA',
    keys: [],
    receiptHandle: `v2.broker-a.handle${seq}`,
    deliveryAttempt: 1 + (seq % 3),
    brokerName: 'broker-a',
    ...extra,
  };
}

/** What the route answered before receiveAnswer: each message's JSON.stringify, joined. */
const reference = (ms: readonly PoppedMessage[]) => `{"messages":[${ms.map((m) => encodeReceived(m, false)).join(',')}]}`;

describe('the receive answer', () => {
  it('is byte for byte the JSON.stringify text of every message, whatever its body and properties', () => {
    const bodies = [
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
    ];
    const messages = bodies.map((b) => popped(b));
    // A body at an odd offset of a larger buffer, as a slice of a broker answer would be.
    messages.push(popped(Buffer.concat([Buffer.from('xyz'), Buffer.from('unaligned "slice" body of some length')]).subarray(3)));
    messages.push(
      popped(Buffer.from('with properties'), {
        tags: undefined,
        keys: ['k1', 'k "2"'],
        properties: { TAGS: 'x', zeta: 'z', '10': 'ten', '2': 'two', KEYS: 'k1', 'na\u00efve': 'v\n', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: 'u' },
        messageId: 'id with "quote"',
        brokerName: 'broker-b',
      }),
    );
    const answer = receiveAnswer(messages, 6_000_000);
    expect(answer.count).toBe(messages.length);
    expect(answer.body.toString('utf8')).toBe(reference(messages));
    expect(JSON.parse(answer.body.toString('utf8')).messages[11].properties).toEqual({ '2': 'two', '10': 'ten', zeta: 'z', 'na\u00efve': 'v\n' });
    expect(receiveAnswer([], 100).body.toString()).toBe('{"messages":[]}');
  });

  it('grows past its first guess when escaping makes a body many times its size', () => {
    const messages = [popped(Buffer.alloc(5000, 1)), popped(Buffer.alloc(3000, '"'))];
    expect(receiveAnswer(messages, 6_000_000).body.toString('utf8')).toBe(reference(messages));
  });

  it('past half the budget, weighs each message and keeps the prefix that fits, as capMessages does', () => {
    const one = popped(Buffer.alloc(400, 'a'));
    const weight = lambdaWeight(encodeReceived(one, false));
    const messages = [one, popped(Buffer.alloc(400, 'b')), popped(Buffer.alloc(400, 'c'))];
    // Room for two exact weights and a comma, not for three: the fast path's bound (2x the bytes) is over it.
    const budget = 2 * weight + 1 + 10;
    const answer = receiveAnswer(messages, budget);
    expect(answer.count).toBe(2);
    expect(answer.body.toString('utf8')).toBe(reference(messages.slice(0, 2)));
    // A first message too big as text still goes, as base64.
    const quotes = popped(Buffer.alloc(300, '"'));
    const alone = receiveAnswer([quotes, one], 1000);
    expect(alone.count).toBe(1);
    expect(JSON.parse(alone.body.toString('utf8')).messages[0].bodyEncoding).toBe('base64');
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
