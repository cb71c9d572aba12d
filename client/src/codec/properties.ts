/**
 * Message properties on the wire and on disk, as RocketMQ's MessageDecoder writes them:
 * name \u0001 value \u0002, repeated. Validation keeps both separators out of names and values.
 */
const NAME_VALUE = '\u0001';
const PROPERTY = '\u0002';

export function encodeProperties(props: Record<string, string>): string {
  let s = '';
  for (const name in props) s += name + NAME_VALUE + props[name] + PROPERTY;
  return s;
}

export function decodeProperties(s: string): Record<string, string> {
  const props: Record<string, string> = {};
  let start = 0;
  while (start < s.length) {
    const sep = s.indexOf(NAME_VALUE, start);
    if (sep < 0) break;
    let end = s.indexOf(PROPERTY, sep + 1);
    if (end < 0) end = s.length;
    props[s.slice(start, sep)] = s.slice(sep + 1, end);
    start = end + 1;
  }
  return props;
}
