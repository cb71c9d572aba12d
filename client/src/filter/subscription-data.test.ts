import { describe, expect, it } from 'vitest';
import { javaHashCode, tagsHashCode } from '../codec/tag-hash.js';
import { CirrusError } from '../errors.js';
import { buildSubscriptionData, MAX_EXPRESSION_LENGTH } from './subscription-data.js';

describe('buildSubscriptionData', () => {
  it('reads *, nothing and blanks as all', () => {
    for (const e of ['*', ' * ', '', '   ', undefined, null]) {
      const d = buildSubscriptionData(e);
      expect(d.subAll, String(e)).toBe(true);
      expect(d.subString).toBe('*');
      expect(d.codeSet.size).toBe(0);
    }
  });

  it('parses tags joined by ||, trimmed, with their hash codes', () => {
    const d = buildSubscriptionData(' TagA ||TagB|| TagA ');
    expect(d.subAll).toBe(false);
    expect(d.subString).toBe('TagA ||TagB|| TagA');
    expect([...d.tagsSet]).toEqual(['TagA', 'TagB']);
    expect([...d.codeSet]).toEqual([tagsHashCode('TagA'), tagsHashCode('TagB')]);
    expect(buildSubscriptionData('Tag With Space').tagsSet.has('Tag With Space')).toBe(true);
  });

  it('keeps colliding tags apart in tagsSet while their codes coincide', () => {
    expect(javaHashCode('Aa')).toBe(javaHashCode('BB'));
    const d = buildSubscriptionData('Aa');
    expect(d.codeSet.has(tagsHashCode('BB'))).toBe(true);
    expect(d.tagsSet.has('BB')).toBe(false);
  });

  it('refuses empty tags, overlong tags and expressions, and separators with INVALID_PARAMETER', () => {
    for (const bad of ['TagA ||', '|| TagA', 'TagA |||| TagB', '||', 'A'.repeat(256), `${'A || '.repeat(MAX_EXPRESSION_LENGTH / 4)}A`, 'Tag\u0001A']) {
      let err: unknown;
      try {
        buildSubscriptionData(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad.slice(0, 20)).toBeInstanceOf(CirrusError);
      expect((err as CirrusError).code).toBe('INVALID_PARAMETER');
    }
  });
});
