import { describe, expect, it } from 'vitest';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BASE64_CHARS, MAX_READ_ANSWER_BYTES, MAX_SEND_REQUEST_BYTES } from './limits';
import { capMessages, lambdaWeight } from './read-answer';

describe('read answers sized for a Lambda result', () => {
  it('weighs JSON text as it travels inside a Lambda result: a JSON string of it', () => {
    const values = [
      'plain',
      'quote " and backslash \\',
      'nul \u0000 newline \n tab \t',
      'h\u00e9llo \u4e16\u754c \ud83d\ude00',
      '\ud800 lone',
      { a: ['"', '\\'] },
    ];
    for (const v of values) {
      const json = JSON.stringify(v);
      expect(lambdaWeight(json)).toBe(Buffer.byteLength(JSON.stringify(json)) - 2);
    }
  });

  it('takes the longest prefix that fits, always the first message, and sends a first text too big escaped as base64', () => {
    const encode = (m: string, base64: boolean) => JSON.stringify({ body: base64 ? Buffer.from(m).toString('base64') : m });
    // {"body":"aaaa"} weighs 15 + 4 escapes = 19; with its comma 20.
    expect(capMessages(['aaaa', 'bbbb', 'cccc'], encode, 39)).toHaveLength(2);
    expect(capMessages(['aaaa', 'bbbb', 'cccc'], encode, 38)).toHaveLength(1);
    expect(capMessages(['aaaa', 'bbbb', 'cccc'], encode, 1)).toHaveLength(1);
    expect(capMessages([], encode, 40)).toEqual([]);
    // 30 quotes weigh 137 as text (4 bytes each once escaped twice), 57 with a base64 body.
    const quotes = '"'.repeat(30);
    const kept = capMessages([quotes, 'next'], encode, 70);
    expect(kept).toHaveLength(1);
    expect(JSON.parse(kept[0]!).body).toBe(Buffer.from(quotes).toString('base64'));
    expect(JSON.parse(capMessages([quotes], encode, 137)[0]!).body).toBe(quotes);
  });

  it('states limits that fit AWS: the request holds base64 of a 4 MiB body, the answers fit a Lambda result', () => {
    expect(MAX_BODY_BASE64_CHARS).toBe(5_592_408);
    expect(MAX_SEND_REQUEST_BYTES).toBe(5_767_168);
    expect(MAX_SEND_REQUEST_BYTES - MAX_BODY_BASE64_CHARS).toBeGreaterThan(128 * 1024);
    expect(LAMBDA_PAYLOAD_BYTES).toBe(6_291_456);
    expect(LAMBDA_PAYLOAD_BYTES - MAX_SEND_REQUEST_BYTES).toBeGreaterThanOrEqual(512 * 1024);
    // One message always fits: 4 MiB as base64 and 64 KiB of properties escaped 7-fold.
    expect(MAX_BODY_BASE64_CHARS + 65_535 * 7 + 1024).toBeLessThan(MAX_READ_ANSWER_BYTES);
    expect(MAX_READ_ANSWER_BYTES).toBeLessThan(LAMBDA_PAYLOAD_BYTES);
  });
});
