import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CirrusError } from '@cirrusmq/client/protocol';
import { removeDir, tempDir } from '../testing/fixtures';
import { HmacSha256, loadOrCreateReceiptKey, ReceiptHandleCodec } from './receipt-handle';

const fields = { brokerName: 'broker-a', topic: 'Orders', queueId: 3, queueOffset: 12345, group: 'billing', generation: 7 };
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as CirrusError).code;
  }
  return 'OK';
};

describe('receipt handles', () => {
  const codec = new ReceiptHandleCodec(Buffer.alloc(32, 1));

  it('round-trips its fields', () => {
    expect(codec.decode(codec.encode(fields))).toEqual(fields);
  });

  it('refuses an edited payload, a forged MAC, another key, and garbage with INVALID_RECEIPT_HANDLE', () => {
    const h = codec.encode(fields);
    const [v, payload, mac] = h.split('.') as [string, string, string];
    const edited = Buffer.from(JSON.stringify(['broker-a', 'Orders', 3, 12346, 'billing', 7])).toString('base64url');
    expect(codeOf(() => codec.decode(`${v}.${edited}.${mac}`))).toBe('INVALID_RECEIPT_HANDLE');
    const flipped = Buffer.from(mac, 'base64url');
    flipped[0]! ^= 1;
    expect(codeOf(() => codec.decode(`${v}.${payload}.${flipped.toString('base64url')}`))).toBe('INVALID_RECEIPT_HANDLE');
    expect(codeOf(() => new ReceiptHandleCodec(Buffer.alloc(32, 2)).decode(h))).toBe('INVALID_RECEIPT_HANDLE');
    for (const bad of ['', 'x', 'v1..', `v2.${payload}.${mac}`, 'a'.repeat(5000), 42, null])
      expect(codeOf(() => codec.decode(bad))).toBe('INVALID_RECEIPT_HANDLE');
  });

  it('keeps its key in the store folder across restarts', () => {
    const dir = tempDir();
    try {
      const k1 = loadOrCreateReceiptKey(dir);
      expect(loadOrCreateReceiptKey(dir).equals(k1)).toBe(true);
      expect(fs.statSync(path.join(dir, 'config', 'receipt.key')).mode & 0o777).toBe(0o600);
    } finally {
      removeDir(dir);
    }
  });
});

describe('HmacSha256', () => {
  it('gives createHmac-sha256 bytes for short, 64-byte and long keys and for ASCII, non-ASCII, empty and over-long messages', () => {
    const keys = [randomBytes(16), randomBytes(32), randomBytes(64), randomBytes(65), randomBytes(200)];
    const messages = ['', 'v1payload', 'é€😀 ünïcode', 'x'.repeat(1024), '€'.repeat(1024), 'y'.repeat(1025), randomBytes(700).toString('base64url')];
    for (const key of keys) {
      const mac = new HmacSha256(key);
      for (const m of messages) expect(mac.digest(m).toString('hex')).toBe(createHmac('sha256', key).update(m).digest('hex'));
      // The kept buffers hold nothing of the previous message: a shorter one after a longer one.
      expect(mac.digest('ab').toString('hex')).toBe(createHmac('sha256', key).update('ab').digest('hex'));
    }
  });

  it('verifies a handle MACed by createHmac (handles given out before the change)', () => {
    const key = Buffer.alloc(32, 1);
    const payload = Buffer.from(JSON.stringify(['broker-a', 'Orders', 3, 12345, 'billing', 7])).toString('base64url');
    const old = `v1.${payload}.${createHmac('sha256', key).update(payload).digest().subarray(0, 16).toString('base64url')}`;
    expect(new ReceiptHandleCodec(key).decode(old)).toEqual(fields);
  });
});
