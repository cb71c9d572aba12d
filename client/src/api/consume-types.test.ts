/** receiptHandleBroker: the broker name a handle routes to, read from the unsigned payload, or nothing. */
import { describe, expect, it } from 'vitest';
import { receiptHandleBroker } from './consume-types.js';

const payload = (fields: unknown) => Buffer.from(JSON.stringify(fields)).toString('base64url');

describe('receiptHandleBroker', () => {
  it('reads the broker name of a v1 handle without checking its mac (the broker does)', () => {
    expect(receiptHandleBroker(`v1.${payload(['broker-a', 'orders', 0, 5, 'billing', 1])}.anything`)).toBe('broker-a');
  });

  it('reads the broker name of a v2 handle', () => {
    expect(receiptHandleBroker('v2.broker-b.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toBe('broker-b');
  });

  it('checks each v2 name, whichever came before', () => {
    expect(receiptHandleBroker('v2.broker-a.AAAA')).toBe('broker-a');
    expect(receiptHandleBroker('v2.broker-a.AAAA')).toBe('broker-a');
    expect(receiptHandleBroker('v2.broker a.AAAA')).toBeUndefined();
    expect(receiptHandleBroker('v2..AAAA')).toBeUndefined();
    expect(receiptHandleBroker(`v2.${'b'.repeat(65)}.AAAA`)).toBeUndefined();
    expect(receiptHandleBroker('v2.broker-a')).toBeUndefined();
    expect(receiptHandleBroker('v2.broker-c.AAAA')).toBe('broker-c');
  });

  it.each([
    ['not a handle', 'forged'],
    ['another version', `v3.broker-a.m`],
    ['a v2 handle with an empty broker name', 'v2..AAAA'],
    ['a v2 handle with four parts', 'v2.broker-a.AA.x'],
    ['four parts', `v1.${payload(['broker-a'])}.m.x`],
    ['a payload that is not JSON', 'v1.!!.m'],
    ['a payload that is not a list', `v1.${payload({ broker: 'broker-a' })}.m`],
    ['a broker name with a dot', `v1.${payload(['a.b'])}.m`],
    ['an empty broker name', `v1.${payload([''])}.m`],
    ['a number for the name', `v1.${payload([7])}.m`],
    ['over 1024 characters', `v1.${payload(['broker-a', 'x'.repeat(1100)])}.m`],
  ])('names no broker for %s', (_, handle) => {
    expect(receiptHandleBroker(handle)).toBeUndefined();
  });
});
