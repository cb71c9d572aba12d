import { describe, expect, it } from 'vitest';
import { decodeProperties, encodeProperties, hasPropertyPrefix } from './properties.js';

const bytes = (props: Record<string, string>, pad = '') => Buffer.from(pad + encodeProperties(props) + pad, 'utf8');
const prefixes = (...names: string[]) => names.map((n) => Buffer.from(n, 'latin1'));

describe('properties', () => {
  it('decode undoes encode', () => {
    const props = { TAGS: 'a', KEYS: 'k1 k2', p: 'é' };
    expect(decodeProperties(encodeProperties(props))).toEqual(props);
  });

  it('hasPropertyPrefix finds a property by its name (and a value start), first, middle or last', () => {
    const buf = bytes({ TAGS: 'a', DELAY: '3', TRAN_MSG: 'true' });
    expect(hasPropertyPrefix(buf, 0, buf.length, prefixes('TAGS\u0001'))).toBe(true);
    expect(hasPropertyPrefix(buf, 0, buf.length, prefixes('DELAY\u0001'))).toBe(true);
    expect(hasPropertyPrefix(buf, 0, buf.length, prefixes('nope\u0001', 'TRAN_MSG\u0001true'))).toBe(true);
    expect(hasPropertyPrefix(buf, 0, buf.length, prefixes('TRAN_MSG\u0001false'))).toBe(false);
  });

  it('hasPropertyPrefix matches names only: not inside a value, not a longer name, not past the end', () => {
    const buf = bytes({ note: 'DELAY\u0001 is a word here', DELAY_X: '1', é: 'TRAN_MSG' });
    expect(hasPropertyPrefix(buf, 0, buf.length, prefixes('DELAY\u0001', 'TRAN_MSG\u0001'))).toBe(false);
    const one = bytes({ DELAY: '3' });
    expect(hasPropertyPrefix(one, 0, 4, prefixes('DELAY\u0001'))).toBe(false);
    expect(hasPropertyPrefix(one, 0, 0, prefixes('DELAY\u0001'))).toBe(false);
  });

  it('hasPropertyPrefix reads only [start, end) of a larger buffer', () => {
    const props = encodeProperties({ TAGS: 'a', DELAY: '3' });
    const buf = Buffer.from(`DELAY\u0001${props}DELAY\u0001`, 'latin1');
    expect(hasPropertyPrefix(buf, 6, 6 + props.length, prefixes('DELAY\u0001'))).toBe(true);
    expect(hasPropertyPrefix(buf, 6, 6 + 7, prefixes('DELAY\u0001'))).toBe(false);
  });
});
