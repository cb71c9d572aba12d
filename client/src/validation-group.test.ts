import { describe, expect, it } from 'vitest';
import { ConsumeLimits } from './api/consume-types.js';
import { validateGroup, validatePutGroupRequest } from './validation.js';

describe('validateGroup', () => {
  it('accepts 1 to 64 letters, digits, _ and -', () => {
    for (const ok of ['g', 'billing', 'Billing_v2-eu', 'x'.repeat(64), 'rmq_user']) expect(validateGroup(ok)).toBe(ok);
  });

  it('refuses bad names and reserved prefixes with INVALID_GROUP', () => {
    for (const bad of ['', 'x'.repeat(65), 'a.b', 'a b', 'a/b', 'é', '%DLQ%billing', '%RETRY%billing', 'rmq_sys_x', 42, undefined]) {
      expect(() => validateGroup(bad)).toThrow(expect.objectContaining({ code: 'INVALID_GROUP', status: 400 }));
    }
    expect(() => validateGroup('rmq_sys_x')).toThrow(/prefix "rmq_sys_" is reserved/);
  });
});

describe('validatePutGroupRequest', () => {
  it('keeps the fields given and nothing else', () => {
    expect(validatePutGroupRequest({})).toEqual({});
    expect(validatePutGroupRequest({ retryMaxTimes: 0, orderly: true, consumeFrom: 'earliest' })).toEqual({
      retryMaxTimes: 0,
      orderly: true,
      consumeFrom: 'earliest',
    });
    expect(validatePutGroupRequest({ retryMaxTimes: ConsumeLimits.MAX_RETRY_TIMES, consumeFrom: 0 })).toEqual({ retryMaxTimes: 64, consumeFrom: 0 });
    expect(validatePutGroupRequest({ consumeFrom: 'latest' })).toEqual({ consumeFrom: 'latest' });
  });

  it('refuses out-of-range, mistyped and unknown fields with INVALID_PARAMETER', () => {
    const bad: [unknown, RegExp][] = [
      [{ retryMaxTimes: 65 }, /retryMaxTimes must be an integer from 0 to 64/],
      [{ retryMaxTimes: -1 }, /retryMaxTimes/],
      [{ retryMaxTimes: 2.5 }, /retryMaxTimes/],
      [{ retryMaxTimes: null }, /retryMaxTimes/],
      [{ orderly: 1 }, /orderly must be true or false/],
      [{ consumeFrom: 'first' }, /consumeFrom must be "latest", "earliest" or a time/],
      [{ consumeFrom: -1 }, /consumeFrom/],
      [{ consumeFrom: Number.MAX_SAFE_INTEGER + 2 }, /consumeFrom/],
      [{ retries: 3 }, /unknown field "retries"/],
      [[], /JSON object/],
      [null, /JSON object/],
    ];
    for (const [body, message] of bad) {
      expect(() => validatePutGroupRequest(body)).toThrow(message);
      expect(() => validatePutGroupRequest(body)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER', status: 400 }));
    }
  });
});
