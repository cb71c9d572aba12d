import { gzipSync } from 'node:zlib';
import { decodeProperties, MessageConst } from '@cirrusmq/client/protocol';
import { describe, expect, it } from 'vitest';
import { RmqStatusError } from '../status';
import { toMessage, toPrepared } from './to-prepared';

const CLIENT_ID = '0156A9C6B1A2C3D4E5F60718293A4B5C6D';

function entry(sp: Record<string, unknown>, body = Buffer.from('payload')) {
  return { topic: { name: 't' }, body, user_properties: { a: '1' }, system_properties: { body_encoding: 'IDENTITY', ...sp } };
}

describe('a SendMessage entry as a stored message', () => {
  it("keeps the client's message id as UNIQ_KEY, with tag, keys, message group and user properties, and its born time", () => {
    const m = entry({
      message_id: CLIENT_ID,
      tag: 'TagA',
      keys: ['k1', 'k2'],
      message_group: 'g1',
      born_timestamp: { seconds: 1_700_000_000, nanos: 5_000_000 },
    });
    const p = toPrepared(toMessage('t', m, 1024), m, Date.now());
    expect(p.messageId).toBe(CLIENT_ID);
    expect(p.propertiesLength).toBe(Buffer.byteLength(p.properties));
    expect(decodeProperties(p.properties)).toEqual({
      a: '1',
      [MessageConst.TAGS]: 'TagA',
      [MessageConst.KEYS]: 'k1 k2',
      [MessageConst.SHARDING_KEY]: 'g1',
      [MessageConst.UNIQ_KEY]: CLIENT_ID,
    });
    expect(p.bornTimestamp).toBe(1_700_000_000_005);
  });

  it('makes its own id when the client sent none or one that is not hex', () => {
    for (const id of ['', 'not an id!', undefined]) {
      const m = entry({ message_id: id });
      const p = toPrepared(toMessage('t', m, 1024), m, Date.now());
      expect(p.messageId).toMatch(/^[0-9A-F]{32}$/);
      expect(decodeProperties(p.properties)[MessageConst.UNIQ_KEY]).toBe(p.messageId);
    }
  });

  it('stores a GZIP body as its plain bytes, and refuses one that does not gunzip within the limit', () => {
    const plain = Buffer.from('x'.repeat(500));
    expect(toMessage('t', entry({ body_encoding: 'GZIP' }, gzipSync(plain)), 1024).body).toEqual(plain);
    expect(() => toMessage('t', entry({ body_encoding: 'GZIP' }, Buffer.from('not gzip')), 1024)).toThrow(RmqStatusError);
    expect(() => toMessage('t', entry({ body_encoding: 'GZIP' }, gzipSync(Buffer.alloc(2048))), 1024)).toThrow(/1024 bytes/);
  });
});
