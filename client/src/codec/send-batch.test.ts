import { describe, expect, it } from 'vitest';
import { CirrusError } from '../errors.js';
import { encodeProperties } from './properties.js';
import { decodeSendBatch, encodeSendBatch, setSendBatchQueueId, type PreparedMessage } from './send-batch.js';

function prepared(body: string): PreparedMessage {
  const properties = encodeProperties({ TAGS: 'A' });
  return { messageId: 'X', body: Buffer.from(body), sysFlag: 0, bornTimestamp: 1, properties, propertiesLength: Buffer.byteLength(properties) };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof CirrusError ? e.code : 'NOT_A_CIRRUS_ERROR';
  }
  return undefined;
}

describe('send batch', () => {
  it('round-trips topic, queue and records', () => {
    const buf = encodeSendBatch('orders', 2, [prepared('a'), prepared('bb'), prepared('ccc')]);
    setSendBatchQueueId(buf, 5);
    const batch = decodeSendBatch(buf, 1000);
    expect(batch.topic).toBe('orders');
    expect(batch.queueId).toBe(5);
    expect(batch.records.map((r) => r.shape.bodyLength)).toEqual([1, 2, 3]);
  });

  it('answers typed errors for malformed input', () => {
    const good = encodeSendBatch('orders', 0, [prepared('a'), prepared('b')]);
    expect(codeOf(() => decodeSendBatch(Buffer.from('nope'), 1000))).toBe('BAD_REQUEST');
    expect(codeOf(() => decodeSendBatch(Buffer.alloc(64), 1000))).toBe('BAD_REQUEST');
    expect(codeOf(() => decodeSendBatch(good.subarray(0, good.length - 3), 1000))).toBe('BAD_REQUEST');
    expect(codeOf(() => decodeSendBatch(Buffer.concat([good, Buffer.alloc(4)]), 1000))).toBe('BAD_REQUEST');
    expect(codeOf(() => decodeSendBatch(good, 1))).toBe('TOO_MANY_MESSAGES');
    const empty = Buffer.from(good.subarray(0, 16 + 6));
    empty.writeUInt32BE(0, 12);
    expect(codeOf(() => decodeSendBatch(empty, 1000))).toBe('EMPTY_BATCH');
    const otherTopic = encodeSendBatch('orderz', 0, [prepared('a')]);
    otherTopic.write('orders', 16, 'latin1');
    expect(codeOf(() => decodeSendBatch(otherTopic, 1000))).toBe('BAD_REQUEST');
  });

  it('encodes a text body to the same bytes as its UTF-8 Buffer', () => {
    const texts = ['plain ascii', 'naïve café ✓ 𝄞', 'lone \ud800 surrogate', 'x'.repeat(5000)];
    const asText = texts.map((t) => ({ ...prepared(''), body: t, bodyLength: Buffer.byteLength(t) }));
    const asBytes = texts.map((t) => ({ ...prepared(''), body: Buffer.from(t, 'utf8') }));
    expect(encodeSendBatch('orders', 3, asText).equals(encodeSendBatch('orders', 3, asBytes))).toBe(true);
    // bodyLength may be left out: it is then computed
    expect(
      encodeSendBatch(
        'orders',
        3,
        texts.map((t) => ({ ...prepared(''), body: t })),
      ).equals(encodeSendBatch('orders', 3, asBytes)),
    ).toBe(true);
    const batch = decodeSendBatch(encodeSendBatch('orders', 3, asText), 1000);
    expect(batch.records.map((r) => r.shape.bodyLength)).toEqual(texts.map((t) => Buffer.byteLength(t)));
  });

  it('refuses a text body whose stated length is wrong instead of writing a broken batch', () => {
    expect(codeOf(() => encodeSendBatch('orders', 0, [{ ...prepared(''), body: 'café', bodyLength: 4 }]))).toBe('INTERNAL');
  });
});
