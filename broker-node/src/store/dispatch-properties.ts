/**
 * The dispatcher reads three properties of every record it indexes (TAGS, KEYS, UNIQ_KEY).
 * It finds them in the stored properties string (name \u0001 value \u0002 ..., codec/
 * properties.ts) with indexOf instead of decoding the whole string into an object: this
 * runs once per message on the append path, where the full decode cost about a third of
 * the dispatch.
 *
 * A name matches at the start of the string or right after a \u0002; names and values
 * never hold either separator (validation), so a match is always a whole name.
 */
const NAME_VALUE = '\u0001';
const PROPERTY = '\u0002';

export type PropertyLookup = (properties: string) => string | undefined;

export function propertyLookup(name: string): PropertyLookup {
  const atStart = name + NAME_VALUE;
  const inside = PROPERTY + name + NAME_VALUE;
  return (s) => {
    let start: number;
    if (s.startsWith(atStart)) {
      start = atStart.length;
    } else {
      const i = s.indexOf(inside);
      if (i < 0) return undefined;
      start = i + inside.length;
    }
    const end = s.indexOf(PROPERTY, start);
    return s.slice(start, end < 0 ? s.length : end);
  };
}
