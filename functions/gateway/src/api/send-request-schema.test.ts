/**
 * The send route parses by hand (parseMessages, then the producer's prepareBatch) and
 * documents its body with SendRequestSchema: both are fed the same bodies, good and bad, and
 * must accept and refuse alike.
 */
import { describe, expect, it } from 'vitest';
import { Producer } from '@cirrusmq/client';
import { Limits, type NameServerApi } from '@cirrusmq/client/protocol';
import { parseMessages } from '../message-json';
import { SendRequestSchema } from './send-request-schema';

/** prepareBatch validates and encodes only: the NameServer is never asked. */
const producer = new Producer({ nameServer: {} as NameServerApi });

function handParserAccepts(body: Record<string, unknown>): boolean {
  try {
    producer.prepareBatch('orders', parseMessages('orders', body.messages));
    return true;
  } catch {
    return false;
  }
}

const msg = (m: Record<string, unknown>) => ({ messages: [m] });
const MiB4 = Limits.MAX_BODY_BYTES;

const good: [string, Record<string, unknown>][] = [
  ['a text body', msg({ body: 'hello' })],
  ['every field', msg({ body: 'a', bodyEncoding: 'utf8', tags: 'TagA', keys: ['k1', 'k2'], properties: { p: 'v' }, shardingKey: 'order-1' })],
  ['a base64 body', msg({ body: Buffer.from([0, 1, 255]).toString('base64'), bodyEncoding: 'base64' })],
  ['unknown fields, ignored', { messages: [{ body: 'a', extra: 1 }], other: true }],
  ['an empty keys list', msg({ body: 'a', keys: [] })],
  ['a body of exactly 4 MiB', msg({ body: 'x'.repeat(MiB4) })],
  ['a 4 MiB body as base64', msg({ body: Buffer.alloc(MiB4).toString('base64'), bodyEncoding: 'base64' })],
  ['a 255-character tag', msg({ body: 'a', tags: 't'.repeat(255) })],
  ['1000 messages', { messages: Array.from({ length: 1000 }, () => ({ body: 'x' })) }],
  ['properties of 16 KiB', msg({ body: 'a', properties: { p: 'v'.repeat(16 * 1024 - 3) } })],
  ['non-ASCII text', msg({ body: 'héllo ✓ 😀', tags: 'é', keys: ['ключ'] })],
];

const bad: [string, Record<string, unknown>][] = [
  ['no messages field', { msgs: [] }],
  ['messages not an array', { messages: { body: 'a' } }],
  ['an empty batch', { messages: [] }],
  ['1001 messages', { messages: Array.from({ length: 1001 }, () => ({ body: 'x' })) }],
  ['a message that is not an object', { messages: ['a'] }],
  ['a message that is an array', { messages: [['a']] }],
  ['null as a message', { messages: [null] }],
  ['no body', msg({ tags: 'A' })],
  ['a number body', msg({ body: 1 })],
  ['an empty body', msg({ body: '' })],
  ['an empty base64 body', msg({ body: '', bodyEncoding: 'base64' })],
  ['bad base64', msg({ body: '@@@', bodyEncoding: 'base64' })],
  ['an unknown encoding', msg({ body: 'a', bodyEncoding: 'hex' })],
  ['a null encoding', msg({ body: 'a', bodyEncoding: null })],
  ['a body over 4 MiB', msg({ body: 'x'.repeat(MiB4 + 1) })],
  ['a base64 body over 4 MiB decoded', msg({ body: Buffer.alloc(MiB4 + 1).toString('base64'), bodyEncoding: 'base64' })],
  ['a lone surrogate in the body', msg({ body: '\ud800x' })],
  ['an empty tag', msg({ body: 'a', tags: '' })],
  ['a 256-character tag', msg({ body: 'a', tags: 't'.repeat(256) })],
  ['a tag with "||"', msg({ body: 'a', tags: 'A||B' })],
  ['a tag with a separator', msg({ body: 'a', tags: 'A\u0001' })],
  ['a number tag', msg({ body: 'a', tags: 5 })],
  ['a lone surrogate in a tag', msg({ body: 'a', tags: '\ud800' })],
  ['keys not an array', msg({ body: 'a', keys: 'k' })],
  ['an empty key', msg({ body: 'a', keys: [''] })],
  ['a key with a space', msg({ body: 'a', keys: ['a b'] })],
  ['a number key', msg({ body: 'a', keys: [1] })],
  ['a lone surrogate in a key', msg({ body: 'a', keys: ['k\udc00'] })],
  ['properties not an object', msg({ body: 'a', properties: 'p' })],
  ['a number property value', msg({ body: 'a', properties: { p: 1 } })],
  ['a reserved property', msg({ body: 'a', properties: { TAGS: 'x' } })],
  ['an empty property name', msg({ body: 'a', properties: { '': 'x' } })],
  ['a property with a separator', msg({ body: 'a', properties: { p: 'a\u0002' } })],
  ['a lone surrogate in a property', msg({ body: 'a', properties: { p: '\udfff' } })],
  ['properties over 16 KiB', msg({ body: 'a', properties: { p: 'v'.repeat(16 * 1024) } })],
  ['an empty sharding key', msg({ body: 'a', shardingKey: '' })],
  ['a number sharding key', msg({ body: 'a', shardingKey: 7 })],
  ['a lone surrogate in a sharding key', msg({ body: 'a', shardingKey: '\ud800' })],
  ['one bad message among good ones', { messages: [{ body: 'a' }, { body: 'b' }, { body: '' }] }],
];

describe('the send request schema and the hand parser', () => {
  it.each(good)('both accept %s', (_name, body) => {
    expect(handParserAccepts(body)).toBe(true);
    expect(SendRequestSchema.safeParse(body).success).toBe(true);
  });

  it.each(bad)('both refuse %s', (_name, body) => {
    expect(handParserAccepts(body)).toBe(false);
    expect(SendRequestSchema.safeParse(body).success).toBe(false);
  });
});
