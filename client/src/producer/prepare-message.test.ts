import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeProperties } from '../codec/properties.js';
import { encodeSendBatch } from '../codec/send-batch.js';
import { MessageConst, SysFlag } from '../message.js';
import { prepareMessage } from './prepare-message.js';

describe('prepareMessage', () => {
  it('folds the reserved properties in after the user properties, as encodeProperties of the merged object', () => {
    const msg = { topic: 't', body: Buffer.from('a'), tags: 'TagA', keys: ['k1', 'k2'], shardingKey: 's', properties: { b: '1', '10': 'x', a: '2', '2': 'y' } };
    const p = prepareMessage(msg, 4096, 1_700_000_000_000);
    const merged: Record<string, string> = { ...msg.properties };
    merged[MessageConst.TAGS] = 'TagA';
    merged[MessageConst.KEYS] = 'k1 k2';
    merged[MessageConst.SHARDING_KEY] = 's';
    merged[MessageConst.UNIQ_KEY] = p.messageId;
    expect(p.properties).toBe(encodeProperties(merged));
    expect(p.propertiesLength).toBe(Buffer.byteLength(p.properties));
    expect(p.messageId).toMatch(/^[0-9A-F]{32}$/);
  });

  it('keeps a text body as text, and encodes it as its UTF-8 bytes would be', () => {
    const text = 'héllo wörld';
    const fromText = prepareMessage({ topic: 't', body: text }, 4096, 1);
    const fromBytes = prepareMessage({ topic: 't', body: Buffer.from(text) }, 4096, 1);
    expect(fromText.body).toBe(text);
    expect(fromText.bodyLength).toBe(Buffer.byteLength(text));
    const same = { ...fromText, messageId: fromBytes.messageId, properties: fromBytes.properties };
    expect(encodeSendBatch('t', 0, [same]).equals(encodeSendBatch('t', 0, [fromBytes]))).toBe(true);
  });

  it('deflates a text body over the threshold like a Buffer body', () => {
    const text = 'compress me '.repeat(1000);
    const p = prepareMessage({ topic: 't', body: text }, 4096, 1);
    expect(p.sysFlag & SysFlag.COMPRESSED).toBe(SysFlag.COMPRESSED);
    expect(Buffer.isBuffer(p.body)).toBe(true);
    expect(p.bodyLength).toBe((p.body as Buffer).length);
    expect(inflateSync(p.body as Buffer).toString('utf8')).toBe(text);
  });

  it('refuses an empty text body and one over 4 MiB in bytes', () => {
    expect(() => prepareMessage({ topic: 't', body: '' })).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    // 2 Mi characters of 3 bytes each: short in characters, over the limit in bytes
    expect(() => prepareMessage({ topic: 't', body: '✓'.repeat(2 * 1024 * 1024) })).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }));
  });

  it('checks each message topic, also after a valid one', () => {
    prepareMessage({ topic: 'fine', body: 'a' });
    expect(() => prepareMessage({ topic: 'bad topic', body: 'a' })).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
    expect(() => prepareMessage({ topic: undefined as unknown as string, body: 'a' })).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
  });
});
