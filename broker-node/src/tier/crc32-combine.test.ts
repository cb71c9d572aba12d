import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Combine } from './crc32-combine';

describe('crc32Combine', () => {
  it("gives zlib's CRC32 of A followed by B from the CRC32s of A and B", () => {
    const whole = randomBytes(3 * 1024 * 1024 + 77);
    for (const cut of [0, 1, 12, 1000, 1024 * 1024, whole.length - 1, whole.length]) {
      const a = whole.subarray(0, cut);
      const b = whole.subarray(cut);
      expect(crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length)).toBe(zlib.crc32(whole));
    }
  });

  it('combines many parts in order, as a multipart upload does', () => {
    const whole = randomBytes(5 * 1024 * 1024 + 3);
    const part = 1024 * 1024;
    let crc = 0;
    for (let at = 0; at < whole.length; at += part) {
      const p = whole.subarray(at, at + part);
      crc = crc32Combine(crc, zlib.crc32(p), p.length);
    }
    expect(crc).toBe(zlib.crc32(whole));
  });

  it('handles lengths past 2^32 bytes (a length is never cut to 32 bits)', () => {
    // A + (2^32 zero bytes) + B grouped both ways: the right grouping shifts A by 2^32 + |B|.
    const a = zlib.crc32(randomBytes(100));
    const bBytes = randomBytes(1000);
    const b = zlib.crc32(bBytes);
    const mib = Buffer.alloc(1024 * 1024);
    const crcMib = zlib.crc32(mib);
    let zeros4g = 0;
    for (let i = 0; i < 4096; i++) zeros4g = crc32Combine(zeros4g, crcMib, mib.length);
    const left = crc32Combine(crc32Combine(a, zeros4g, 2 ** 32), b, bBytes.length);
    const right = crc32Combine(a, crc32Combine(zeros4g, b, bBytes.length), 2 ** 32 + bBytes.length);
    expect(right).toBe(left);
    // Cut to 32 bits the length would be |B| alone, a different CRC.
    expect(crc32Combine(a, crc32Combine(zeros4g, b, bBytes.length), bBytes.length)).not.toBe(left);
  });
});
