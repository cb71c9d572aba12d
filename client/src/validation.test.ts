import { describe, expect, it } from 'vitest';
import type { CirrusError } from './errors.js';
import { parseNonNegativeInt, validateLookupKey, validateMessage, validateUserTopic } from './validation.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as CirrusError).code;
  }
  return undefined;
}
const body = Buffer.from('x');

describe('validation', () => {
  it("applies RocketMQ's topic rules", () => {
    expect(validateUserTopic('orders_1-%|A')).toBe('orders_1-%|A');
    expect(codeOf(() => validateUserTopic('a'.repeat(127)))).toBeUndefined();
    expect(codeOf(() => validateUserTopic('a'.repeat(128)))).toBe('INVALID_TOPIC');
    expect(codeOf(() => validateUserTopic('has space'))).toBe('INVALID_TOPIC');
    expect(codeOf(() => validateUserTopic(''))).toBe('INVALID_TOPIC');
    expect(codeOf(() => validateUserTopic(42))).toBe('INVALID_TOPIC');
    for (const t of ['%RETRY%g', '%DLQ%g', 'rmq_sys_x']) expect(codeOf(() => validateUserTopic(t))).toBe('RESERVED_TOPIC');
  });

  it('checks bodies, tags, keys and properties', () => {
    expect(codeOf(() => validateMessage({ topic: 't', body }))).toBeUndefined();
    expect(codeOf(() => validateMessage({ topic: 't', body: Buffer.alloc(0) }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body: Buffer.alloc(4 * 1024 * 1024 + 1) }))).toBe('PAYLOAD_TOO_LARGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, tags: 'a||b' }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, keys: ['ok', ''] }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, keys: ['two words'] }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, properties: { TAGS: 'x' } }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, properties: { a: 'x'.repeat(16 * 1024) } }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => validateMessage({ topic: 't', body, properties: { a: 'b\u0001' } }))).toBe('INVALID_MESSAGE');
  });

  it('refuses text that is not valid Unicode (a lone surrogate would be stored as U+FFFD)', () => {
    const lone = '\ud800x';
    expect(codeOf(() => validateMessage({ topic: 't', body: 'caf\u00e9 \ud83d\ude00' }))).toBeUndefined();
    expect(codeOf(() => validateMessage({ topic: 't', body: lone }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body: 'x\udc00' }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body, tags: lone }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body, keys: ['ok', lone] }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body, shardingKey: lone }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body, properties: { a: lone } }))).toBe('INVALID_TEXT');
    expect(codeOf(() => validateMessage({ topic: 't', body, properties: { [lone]: 'v' } }))).toBe('INVALID_TEXT');
    // Binary bodies are bytes, not text: any bytes go.
    expect(codeOf(() => validateMessage({ topic: 't', body: Buffer.from([0xff, 0xfe, 0]) }))).toBeUndefined();
    expect(codeOf(() => validateLookupKey('key', lone))).toBe('INVALID_TEXT');
  });

  it('parses non-negative integers only', () => {
    expect(parseNonNegativeInt('offset', '12')).toBe(12);
    expect(parseNonNegativeInt('offset', undefined, 0)).toBe(0);
    for (const bad of ['-1', 'abc', '1.5', '1e3', ' 1']) expect(codeOf(() => parseNonNegativeInt('offset', bad))).toBe('INVALID_PARAMETER');
    expect(codeOf(() => parseNonNegativeInt('queueId', undefined))).toBe('INVALID_PARAMETER');
  });
});
