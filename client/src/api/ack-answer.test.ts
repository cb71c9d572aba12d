import { describe, expect, it } from 'vitest';
import { ackAnswerResults, allOkAnswerJson, allOkResultsBytes, allOkResultsCount, allOkResultsJson, okResults } from './ack-answer';

const oks = (n: number) => Array.from({ length: n }, () => ({ status: 'OK' }));

describe('the all-OK ack answer', () => {
  it('is JSON.stringify of n OK results', () => {
    for (const n of [0, 1, 2, 32, 100]) {
      expect(allOkResultsJson(n)).toBe(JSON.stringify(oks(n)));
      expect(allOkAnswerJson(n)).toBe(JSON.stringify({ results: oks(n) }));
      expect(allOkResultsBytes(n).toString()).toBe(JSON.stringify(oks(n)));
      expect(okResults(n)).toEqual(oks(n));
    }
  });

  it('is recognized only in its exact text', () => {
    for (const n of [0, 1, 32, 100]) expect(allOkResultsCount(Buffer.from(JSON.stringify(oks(n))))).toBe(n);
    const failed = [...oks(31), { status: 'FAILED', error: { code: 'RECEIPT_HANDLE_EXPIRED', message: 'x' } }];
    for (const text of [
      JSON.stringify(failed),
      // The same length as 32 OK results, one byte changed.
      allOkResultsJson(32).replace('"OK"}]', '"OX"}]'),
      JSON.stringify(oks(3), null, 1),
      '',
      '[',
      '{"status":"OK"}',
    ]) {
      expect(allOkResultsCount(Buffer.from(text))).toBeUndefined();
    }
  });

  it('answers the results of any ack answer, parsed when it is not the all-OK text', () => {
    expect(ackAnswerResults(Buffer.from(allOkAnswerJson(32)))).toEqual(oks(32));
    expect(ackAnswerResults(Buffer.from(allOkAnswerJson(0)))).toEqual([]);
    const mixed = { results: [{ status: 'OK' }, { status: 'FAILED', error: { code: 'INVALID_RECEIPT_HANDLE', message: 'forged' } }] };
    expect(ackAnswerResults(Buffer.from(JSON.stringify(mixed)))).toEqual(mixed.results);
    // The same results written another way are parsed, not refused.
    expect(ackAnswerResults(Buffer.from(JSON.stringify({ results: oks(2) }, null, 2)))).toEqual(oks(2));
    for (const bad of ['', 'not json', '{"results":7}', '{}', 'null']) expect(ackAnswerResults(Buffer.from(bad))).toBeUndefined();
  });

  it('shares one entry that cannot be changed', () => {
    const r = okResults(2);
    expect(r[0]).toBe(r[1]);
    expect(Object.isFrozen(r[0])).toBe(true);
  });
});
