import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CirrusError } from '@cirrusmq/client/protocol';
import { removeDir, tempDir } from '../testing/fixtures';
import { type LeaseRef, ReceiptHandleCodec } from './receipt-handle';
import { loadOrCreateReceiptKey } from './receipt-key';

const lease: LeaseRef = { queueId: 3, queueOffset: 12345, generation: 7 };
const codeOf = (r: LeaseRef | CirrusError | undefined) => (r instanceof CirrusError ? r.code : 'OK');

describe('receipt handles (v2)', () => {
  const codec = new ReceiptHandleCodec(Buffer.alloc(32, 1), 'broker-a');

  it('round-trip a batch, large values included, and are short', () => {
    const leases: LeaseRef[] = [lease, { queueId: 0, queueOffset: 0, generation: 0 }, { queueId: 65535, queueOffset: 2 ** 48 - 1, generation: 2 ** 40 + 3 }];
    const handles = codec.encodeAll('Orders', 'billing', leases);
    expect(new Set(handles).size).toBe(3);
    for (const h of handles) expect(h).toMatch(/^v2\.broker-a\.[A-Za-z0-9_-]{35}$/);
    expect(codec.decodeAll(handles, 'Orders', 'billing')).toEqual(leases);
  });

  it('refuse another topic, group, broker or key, an edited body or tag, and garbage, per entry', () => {
    const [h] = codec.encodeAll('Orders', 'billing', [lease]) as [string];
    const bytes = Buffer.from(h.split('.')[2]!, 'base64url');
    const edit = (i: number) => {
      const b = Buffer.from(bytes);
      b[i]! ^= 1;
      return `v2.broker-a.${b.toString('base64url')}`;
    };
    const bad = [
      edit(0),
      edit(5),
      edit(12),
      edit(14),
      edit(25),
      h.replace('broker-a', 'broker-b'),
      `${h}A`,
      h.slice(0, -1),
      'v2.broker-a',
      'v2..x',
      '',
      'x',
      42,
      null,
      'a'.repeat(5000),
    ];
    const results = codec.decodeAll([h, ...bad], 'Orders', 'billing');
    expect(codeOf(results[0])).toBe('OK');
    for (const r of results.slice(1)) expect(codeOf(r)).toBe('INVALID_RECEIPT_HANDLE');
    expect(codeOf(codec.decodeAll([h], 'Orders', 'shipping')[0])).toBe('INVALID_RECEIPT_HANDLE');
    expect(codeOf(codec.decodeAll([h], 'Payments', 'billing')[0])).toBe('INVALID_RECEIPT_HANDLE');
    expect(codeOf(new ReceiptHandleCodec(Buffer.alloc(32, 2), 'broker-a').decodeAll([h], 'Orders', 'billing')[0])).toBe('INVALID_RECEIPT_HANDLE');
    const other = new ReceiptHandleCodec(Buffer.alloc(32, 1), 'broker-b');
    expect((other.decodeAll([h], 'Orders', 'billing')[0] as CirrusError).message).toMatch(/broker broker-a, not broker-b/);
  });

  it('refuse a character outside base64url at any place, and a last character with its unused bits set', () => {
    const [h] = codec.encodeAll('Orders', 'billing', [lease]) as [string];
    const at = h.length - 35;
    const bad: string[] = [];
    for (let k = 0; k < 35; k++) for (const ch of ['.', '+', '/', '=', 'é', '\u0100']) bad.push(h.slice(0, at + k) + ch + h.slice(at + k + 1));
    const last = h.charCodeAt(h.length - 1);
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    bad.push(h.slice(0, -1) + B64[B64.indexOf(String.fromCharCode(last)) | 1]);
    const results = codec.decodeAll([h, ...bad], 'Orders', 'billing');
    expect(results[0]).toEqual(lease);
    for (const r of results.slice(1)) expect(codeOf(r)).toBe('INVALID_RECEIPT_HANDLE');
  });

  it('sign each batch anew: a long-lived cipher gives the same handles for the same leases', () => {
    const a = codec.encodeAll('T', 'g', [lease, lease]);
    codec.encodeAll('U', 'h', [{ queueId: 1, queueOffset: 2, generation: 3 }]);
    expect(codec.encodeAll('T', 'g', [lease])[0]).toBe(a[0]);
    expect(a[1]).toBe(a[0]);
  });
});

describe('receipt handles (v1, given out before v2)', () => {
  const key = Buffer.alloc(32, 1);
  const v1 = (fields: unknown[], k = key) => {
    const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
    return `v1.${payload}.${createHmac('sha256', k).update(payload).digest().subarray(0, 16).toString('base64url')}`;
  };

  it('still verify, and are refused when edited or of another topic, group or broker', () => {
    const codec = new ReceiptHandleCodec(key, 'broker-a');
    const good = v1(['broker-a', 'Orders', 3, 12345, 'billing', 7]);
    expect(codec.decodeAll([good], 'Orders', 'billing')).toEqual([lease]);
    const [, payload, mac] = good.split('.') as [string, string, string];
    const edited = Buffer.from(JSON.stringify(['broker-a', 'Orders', 3, 12346, 'billing', 7])).toString('base64url');
    const results = codec.decodeAll(
      [
        `v1.${edited}.${mac}`,
        `v1.${payload}.${mac.slice(1)}A`,
        v1(['broker-b', 'Orders', 3, 1, 'billing', 7]),
        v1(['broker-a', 'Orders', 3, 1, 'x', 7]),
        v1(['broker-a', 'Orders', -1, 1, 'billing', 7]),
        v1(['broker-a'], Buffer.alloc(32, 2)),
        'v1..',
      ],
      'Orders',
      'billing',
    );
    for (const r of results) expect(codeOf(r)).toBe('INVALID_RECEIPT_HANDLE');
  });
});

describe('the receipt key', () => {
  it('is kept in the store folder across restarts, mode 0600', () => {
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
