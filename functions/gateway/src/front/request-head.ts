/**
 * The head of an HTTP/1.1 request, read only when it is plainly framed: the request line
 * `METHOD target HTTP/1.1`, header lines of token names and visible-ASCII values, at most one
 * Host, at most one Content-Length of digits, and none of Transfer-Encoding, Expect or Upgrade,
 * or a Connection other than keep-alive or close. Anything else is not read here: the front
 * server hands it to node:http with its bytes untouched (front-connection.ts), so every odd,
 * ambiguous or hostile request (the stuff of request smuggling) meets node's own parser and
 * its answers, exactly as before the front server existed.
 */

export interface RequestHead {
  method: string;
  target: string;
  host: string | undefined;
  /** The body's length (0 without Content-Length). */
  contentLength: number;
  /** Connection: close was asked for. */
  close: boolean;
  /** The header lines as [name, value] pairs in order, names as sent. */
  rawHeaders: string[];
}

/** node:http's default limit on a head (--max-http-header-size). */
export const MAX_HEAD_BYTES = 16 * 1024;

const REQUEST_LINE = /^([A-Z]+) ([\x21-\x7e]+) HTTP\/1\.1$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?)[ \t]*$/;
const DIGITS = /^\d{1,15}$/;
const FRAMING_REFUSED = new Set(['transfer-encoding', 'expect', 'upgrade']);

/** The head in `text` (the bytes before the blank line, as latin1), or undefined when it is not plainly framed. */
export function readRequestHead(text: string): RequestHead | undefined {
  const lines = text.split('\r\n');
  const line = REQUEST_LINE.exec(lines[0]!);
  if (!line) return undefined;
  let host: string | undefined;
  let contentLength: number | undefined;
  let close = false;
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i]!);
    if (!header) return undefined;
    const [, name, value] = header as unknown as [string, string, string];
    const key = name.toLowerCase();
    if (FRAMING_REFUSED.has(key)) return undefined;
    if (key === 'content-length') {
      if (contentLength !== undefined || !DIGITS.test(value)) return undefined;
      contentLength = Number(value);
    } else if (key === 'host') {
      if (host !== undefined) return undefined;
      host = value;
    } else if (key === 'connection') {
      const token = value.toLowerCase();
      if (token === 'close') close = true;
      else if (token !== 'keep-alive') return undefined;
    }
    rawHeaders.push(name, value);
  }
  return { method: line[1]!, target: line[2]!, host, contentLength: contentLength ?? 0, close, rawHeaders };
}

/** A header as a fetch Headers object reads it: the values of every line with that name, joined by ", ". */
export function headerOf(rawHeaders: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key.length === name.length && key.toLowerCase() === name) value = value === undefined ? rawHeaders[i + 1] : `${value}, ${rawHeaders[i + 1]}`;
  }
  return value;
}
