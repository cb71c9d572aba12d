import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MessageConst, SysFlag } from '../message.js';
import { encodeProperties } from './properties.js';
import { decodeRecord, decodeRecords, encodeRecord, Field, hasValidCrc, readRecordShape, recordSize, stampRecord } from './record.js';

function makeRecord(
  body: Uint8Array,
  sysFlag = 0,
  props: Record<string, string> = { [MessageConst.TAGS]: 'TagA', [MessageConst.UNIQ_KEY]: 'ID1', [MessageConst.KEYS]: 'k1 k2' },
) {
  const properties = encodeProperties(props);
  const size = recordSize(body.length, 'orders'.length, Buffer.byteLength(properties));
  const buf = Buffer.alloc(size);
  expect(encodeRecord(buf, 0, { queueId: 0, sysFlag, bornTimestamp: 1_700_000_000_123, reconsumeTimes: 0, body, topic: 'orders', properties })).toBe(size);
  stampRecord(buf, 0, size, 3, 2 ** 40 + 7, 2 ** 45 + 9, 1_700_000_000_456);
  return buf;
}

describe('message record', () => {
  it('round-trips every field, 64-bit offsets included', () => {
    const buf = makeRecord(Buffer.from('hello'));
    const shape = readRecordShape(buf, 0, buf.length)!;
    expect(shape.size).toBe(buf.length);
    expect(hasValidCrc(buf, 0, shape.size)).toBe(true);
    const m = decodeRecord(buf, 0, shape);
    expect(m).toMatchObject({
      topic: 'orders',
      queueId: 3,
      queueOffset: 2 ** 40 + 7,
      commitLogOffset: 2 ** 45 + 9,
      bornTimestamp: 1_700_000_000_123,
      storeTimestamp: 1_700_000_000_456,
      messageId: 'ID1',
      tags: 'TagA',
      keys: ['k1', 'k2'],
    });
    expect(m.body.toString()).toBe('hello');
  });

  it('inflates a compressed body', () => {
    const original = Buffer.alloc(10_000, 'abc');
    const buf = makeRecord(deflateSync(original), SysFlag.COMPRESSED);
    expect(decodeRecords(buf)[0]!.body.equals(original)).toBe(true);
  });

  it('fails the CRC when any byte after the CRC field changes, header included', () => {
    for (const at of [Field.QUEUEOFFSET + 3, Field.STORETIMESTAMP, Field.BODY + 1]) {
      const buf = makeRecord(Buffer.from('hello'));
      buf[at]! ^= 0xff;
      expect(hasValidCrc(buf, 0, buf.length)).toBe(false);
    }
  });

  it('rejects torn or inconsistent records without reading past the end', () => {
    const buf = makeRecord(Buffer.from('hello'));
    expect(readRecordShape(buf, 0, buf.length - 1)).toBeUndefined();
    const lying = Buffer.from(buf);
    lying.writeInt32BE(1_000_000, Field.BODYLENGTH);
    expect(readRecordShape(lying, 0, lying.length)).toBeUndefined();
    expect(readRecordShape(Buffer.alloc(100), 0, 100)).toBeUndefined();
    expect(() => decodeRecords(Buffer.concat([buf, Buffer.from([1, 2, 3])]))).toThrow(/corrupt/);
  });
});
