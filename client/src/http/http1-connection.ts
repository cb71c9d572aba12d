/**
 * One keep-alive HTTP/1.1 connection carrying one request at a time: the head and body go out
 * in one write, the answer is parsed as it arrives (Content-Length, chunked, or until close).
 * The SDK's calls to brokers are small, regular and many (a receive and an ack per batch of
 * 32): a general client's machinery per call (undici's dispatcher, its llhttp in WebAssembly,
 * handler objects) cost the consumer more CPU than decoding the 32 messages.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface HttpResponse {
  status: number;
  /** Lower-case names; a repeated header is a list. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A failed exchange: `code` is the socket's (ECONNREFUSED, ECONNRESET…), HTTP_PARSE, or TIMEOUT. */
export class HttpTransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpTransportError';
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

interface Pending {
  resolve: (res: HttpResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** No body in the answer whatever its headers say (HEAD). */
  noBody: boolean;
}

export class Http1Connection {
  private readonly socket: net.Socket;
  private pending: Pending | undefined;
  private readonly parser = new ResponseParser();
  private connected = false;
  closed = false;
  /** When it last finished an exchange (the pool drops connections idle past the server's keep-alive). */
  idleSince = 0;

  constructor(
    host: string,
    port: number,
    /** Called once, when the connection can carry nothing more. */
    private readonly onClose: (c: Http1Connection) => void,
    /** https: the TLS options (trusted roots beyond the system's, for one); undefined: plain TCP. */
    secure?: tls.ConnectionOptions,
  ) {
    if (secure) {
      this.socket = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], ...secure });
      this.socket.setNoDelay(true);
      this.socket.once('secureConnect', () => (this.connected = true));
    } else {
      this.socket = net.connect({ host, port, noDelay: true });
      this.socket.once('connect', () => (this.connected = true));
    }
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new HttpTransportError(e.code ?? 'ECONNRESET', e.message)));
    this.socket.on('close', () => {
      // An answer that runs until the connection closes ends here.
      if (this.pending && this.parser.endsAtClose()) this.finish(this.parser.take());
      this.fail(new HttpTransportError('ECONNRESET', this.connected ? 'connection closed before the answer was complete' : 'connection closed'));
    });
  }

  /** `head`: the request line and headers, ending with the blank line. */
  send(head: string, body: Buffer | string | undefined, timeoutMs: number, noBody: boolean): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new HttpTransportError('ECONNRESET', 'connection closed'));
    return new Promise<HttpResponse>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new HttpTransportError('TIMEOUT', `no complete answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending = { resolve, reject, timer, noBody };
      this.parser.reset(noBody);
      this.socket.ref();
      this.socket.cork();
      this.socket.write(head, 'latin1');
      if (body !== undefined && body.length > 0) this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.fail(new HttpTransportError('ECONNRESET', 'connection closed by the client'));
  }

  private onData(chunk: Buffer): void {
    if (!this.pending) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.fail(new HttpTransportError('HTTP_PARSE', 'unexpected bytes from the server between requests'));
      return;
    }
    let done: HttpResponse | undefined;
    try {
      done = this.parser.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (done) this.finish(done);
  }

  private finish(res: HttpResponse): void {
    const p = this.pending!;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (this.parser.mustClose()) this.destroy();
    else {
      this.idleSince = Date.now();
      // An idle keep-alive connection does not keep the process alive.
      this.socket.unref();
    }
    p.resolve(res);
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.destroy();
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }

  private destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this);
  }
}

type BodyMode = 'length' | 'chunked' | 'close' | 'none';

/** One HTTP/1.1 answer, from chunks as they arrive. */
export class ResponseParser {
  private head: Buffer | undefined;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private mode: BodyMode = 'none';
  private need = 0;
  private parts: Buffer[] = [];
  private got = 0;
  private closeAfter = false;
  private noBody = false;
  private inHead = true;

  reset(noBody = false): void {
    this.head = undefined;
    this.status = 0;
    this.headers = {};
    this.mode = 'none';
    this.need = 0;
    this.parts = [];
    this.got = 0;
    this.closeAfter = false;
    this.noBody = noBody;
    this.inHead = true;
  }

  /** The whole answer once `chunk` completes it; undefined while more is due. */
  push(chunk: Buffer): HttpResponse | undefined {
    if (this.inHead) {
      const buf = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new HttpTransportError('HTTP_PARSE', 'answer head over 64 KiB');
        this.head = buf;
        return undefined;
      }
      this.parseHead(buf.toString('latin1', 0, end));
      this.inHead = false;
      this.head = undefined;
      chunk = buf.subarray(end + 4);
      if (this.mode === 'none') {
        if (chunk.length > 0) throw new HttpTransportError('HTTP_PARSE', 'bytes after an answer without a body');
        return this.done(EMPTY);
      }
    }
    if (chunk.length === 0) return undefined;
    if (this.mode === 'length') {
      // The common case: the whole body in the chunk that completed the head, no copy.
      if (this.got === 0 && chunk.length === this.need) return this.done(chunk);
      this.parts.push(chunk);
      this.got += chunk.length;
      if (this.got < this.need) return undefined;
      if (this.got > this.need) throw new HttpTransportError('HTTP_PARSE', "more bytes than the answer's Content-Length");
      return this.done(Buffer.concat(this.parts, this.got));
    }
    this.parts.push(chunk);
    this.got += chunk.length;
    if (this.mode === 'chunked') {
      const body = decodeChunked(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.got));
      return body ? this.done(body) : undefined;
    }
    return undefined; // 'close': the connection's end completes it (take())
  }

  /** The answer runs until the connection closes (neither a length nor chunked). */
  endsAtClose(): boolean {
    return !this.inHead && this.mode === 'close';
  }

  take(): HttpResponse {
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.parts, this.got) };
  }

  /** The server said it closes the connection after this answer (or the answer ran until close). */
  mustClose(): boolean {
    return this.closeAfter || this.mode === 'close';
  }

  private done(body: Buffer): HttpResponse {
    return { status: this.status, headers: this.headers, body };
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const statusLine = lines[0]!;
    if (!statusLine.startsWith('HTTP/1.')) throw new HttpTransportError('HTTP_PARSE', `not an HTTP/1.x answer: ${statusLine.slice(0, 40)}`);
    this.status = Number(statusLine.slice(9, 12));
    if (!Number.isInteger(this.status) || this.status < 100) throw new HttpTransportError('HTTP_PARSE', `bad status line: ${statusLine.slice(0, 40)}`);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const had = this.headers[name];
      this.headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    const connection = this.headers.connection;
    this.closeAfter = typeof connection === 'string' && connection.toLowerCase() === 'close';
    const te = this.headers['transfer-encoding'];
    const length = this.headers['content-length'];
    if (this.noBody || this.status === 204 || this.status === 304 || this.status < 200) this.mode = 'none';
    else if (typeof te === 'string' && te.toLowerCase().includes('chunked')) this.mode = 'chunked';
    else if (typeof length === 'string') {
      this.need = Number(length);
      if (!Number.isSafeInteger(this.need) || this.need < 0) throw new HttpTransportError('HTTP_PARSE', `bad Content-Length ${length}`);
      this.mode = this.need === 0 ? 'none' : 'length';
    } else this.mode = 'close';
  }
}

/** A complete chunked body's bytes, or undefined while its last chunk has not arrived. */
export function decodeChunked(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) return undefined;
    const size = Number.parseInt(buf.toString('latin1', pos, eol).split(';')[0]!.trim(), 16);
    if (!Number.isSafeInteger(size) || size < 0) throw new HttpTransportError('HTTP_PARSE', 'bad chunk size');
    if (size === 0) {
      // Trailers (none expected) end with a blank line.
      return buf.indexOf(CRLF2, eol) >= 0 ? Buffer.concat(parts) : undefined;
    }
    const start = eol + 2;
    if (buf.length < start + size + 2) return undefined;
    parts.push(buf.subarray(start, start + size));
    pos = start + size + 2;
  }
}
