import { describe, expect, it } from 'vitest';
import { headerOf, readRequestHead } from './request-head';

const head = (...lines: string[]) => lines.join('\r\n');

describe('readRequestHead', () => {
  it('reads a plainly framed request', () => {
    const h = readRequestHead(
      head('POST /v1/topics/t/messages?mode=sync HTTP/1.1', 'Host: 127.0.0.1:8080', 'Content-Type: application/json', 'Content-Length: 12', 'Accept: a, b'),
    );
    expect(h).toEqual({
      method: 'POST',
      target: '/v1/topics/t/messages?mode=sync',
      host: '127.0.0.1:8080',
      contentLength: 12,
      close: false,
      rawHeaders: ['Host', '127.0.0.1:8080', 'Content-Type', 'application/json', 'Content-Length', '12', 'Accept', 'a, b'],
    });
  });

  it('takes no body without Content-Length, Connection close or keep-alive, and trims the optional white space', () => {
    expect(readRequestHead(head('GET / HTTP/1.1', 'Host:localhost', 'Connection:  Close \t'))).toMatchObject({
      contentLength: 0,
      close: true,
      host: 'localhost',
    });
    expect(readRequestHead(head('GET / HTTP/1.1', 'connection: keep-alive', 'X-Empty:'))).toMatchObject({ close: false, host: undefined });
  });

  it.each([
    ['another protocol version', head('POST / HTTP/1.0', 'Host: a')],
    ['HTTP/2 text', head('PRI * HTTP/2.0')],
    ['a lower-case method', head('post / HTTP/1.1')],
    ['a space in the target', head('POST /a b HTTP/1.1')],
    ['no target', head('POST  HTTP/1.1')],
    ['Transfer-Encoding', head('POST / HTTP/1.1', 'Transfer-Encoding: chunked')],
    ['Transfer-Encoding beside Content-Length', head('POST / HTTP/1.1', 'Content-Length: 3', 'transfer-encoding: chunked')],
    ['two Content-Lengths', head('POST / HTTP/1.1', 'Content-Length: 3', 'Content-Length: 3')],
    ['a Content-Length list', head('POST / HTTP/1.1', 'Content-Length: 3, 3')],
    ['a signed Content-Length', head('POST / HTTP/1.1', 'Content-Length: +3')],
    ['a huge Content-Length', head('POST / HTTP/1.1', 'Content-Length: 1234567890123456')],
    ['Expect', head('POST / HTTP/1.1', 'Expect: 100-continue')],
    ['Upgrade', head('GET / HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade')],
    ['Connection with other tokens', head('GET / HTTP/1.1', 'Connection: keep-alive, x')],
    ['two Hosts', head('GET / HTTP/1.1', 'Host: a', 'Host: b')],
    ['a folded header line', head('GET / HTTP/1.1', 'X-A: b', ' c')],
    ['a space before the colon', head('GET / HTTP/1.1', 'Host : a')],
    ['a bad name character', head('GET / HTTP/1.1', 'X(A): b')],
    ['a control character in a value', head('GET / HTTP/1.1', 'X-A: b\u0001c')],
    ['a byte above ASCII in a value', head('GET / HTTP/1.1', 'X-A: caf\u00e9')],
    ['a bare LF', 'GET / HTTP/1.1\nHost: a'],
    ['an empty line inside', head('GET / HTTP/1.1', '', 'Host: a')],
  ])('leaves %s to node:http', (_, text) => {
    expect(readRequestHead(text)).toBeUndefined();
  });
});

describe('headerOf', () => {
  it('reads a header as fetch does: any case, repeats joined', () => {
    const raw = ['Accept', 'a', 'X', '1', 'ACCEPT', 'b'];
    expect(headerOf(raw, 'accept')).toBe('a, b');
    expect(headerOf(raw, 'x')).toBe('1');
    expect(headerOf(raw, 'content-type')).toBeUndefined();
  });
});
