import { describe, expect, it } from 'vitest';
import { decodeProperties, encodeProperties } from '../../../client/src/codec/properties';
import { propertyLookup } from './dispatch-properties';

describe('propertyLookup', () => {
  it('finds the same values as decodeProperties, whole names only', () => {
    const tags = propertyLookup('TAGS');
    const keys = propertyLookup('KEYS');
    const cases: Record<string, string>[] = [
      { TAGS: 'TagA', KEYS: 'k1 k2', UNIQ: 'ID' },
      { UNIQ: 'ID', XTAGS: 'no', TAGS: 'é-ü' },
      { KEYS: "", TAGS: "last" },
      { OTHER: 'TAGS' },
      {},
    ];
    for (const props of cases) {
      const s = encodeProperties(props);
      expect(tags(s)).toBe(decodeProperties(s).TAGS);
      expect(keys(s)).toBe(decodeProperties(s).KEYS);
    }
    expect(tags('TAGS\u0001unterminated')).toBe('unterminated');
  });
});
