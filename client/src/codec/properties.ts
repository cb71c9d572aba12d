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

/**
 * Whether a property in the encoded properties at [start, end) of `buf` begins with one of
 * `prefixes` (bytes: a name and its 0x01, maybe the start of a value). Walks the properties
 * name by name without decoding them: the broker's check of every record it is sent for a
 * schedule or a half-message mark, which a plain record does not have. UTF-8 never puts 0x02
 * inside a multi-byte character, so a byte walk finds exactly the names.
 */
export function hasPropertyPrefix(buf: Uint8Array, start: number, end: number, prefixes: readonly Uint8Array[]): boolean {
  let p = start;
  while (p < end) {
    for (const prefix of prefixes) if (p + prefix.length <= end && startsWith(buf, p, prefix)) return true;
    while (p < end && buf[p] !== PROPERTY_BYTE) p++;
    p++;
  }
  return false;
}

const PROPERTY_BYTE = 0x02;

function startsWith(buf: Uint8Array, at: number, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}
