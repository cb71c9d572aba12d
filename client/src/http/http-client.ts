/**
 * A keep-alive HTTP/1.1 client: a pool of connections to one origin (http1-connection.ts),
 * each carrying one request at a time. Every SDK call to a broker, the NameServer or the
 * gateway goes through it; a receive and an ack per batch, a send per batch, so its cost per
 * call is the consumer's and producer's CPU per message.
 */
import type tls from 'node:tls';
import { CirrusError, errorFromBody, toCirrusError } from '../errors.js';
import { ContentTypes } from '../api/types.js';
import { Http1Connection, HttpTransportError, type HttpResponse } from './http1-connection.js';

export type { HttpResponse } from './http1-connection.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  path: string;
  body?: Buffer | string;
  contentType?: string;
  /** The Accept header's value (none sent when unset). */
  accept?: string;
  timeoutMs?: number;
  /** Aborting ends the exchange (its connection is closed) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Aborting asks a broker to end this long poll now and answer (remoting's END_WAIT); over plain HTTP the wait runs its course. */
  endWait?: AbortSignal;
}

/** Under Node's http server default keep-alive (5 s): a connection idle longer may be closed by the server as it is reused. */
const MAX_IDLE_MS = 4_000;

export class HttpClient {
  private readonly defaultTimeoutMs: number;
  private readonly maxSockets: number;
  readonly host: string;
  readonly port: number;
  private readonly hostHeader: string;
  /** Idle connections, the most recently used last (reused first: it is the least likely to have been closed). */
  private readonly idle: Http1Connection[] = [];
  private open = 0;
  private readonly waiting: ((c: Http1Connection | Error) => void)[] = [];
  private closed = false;

  private readonly secure: tls.ConnectionOptions | undefined;

  /**
   * `address` is "host:port" or a base URL such as http://127.0.0.1:9876 or https://gateway.example;
   * `ca`: roots to trust for https beyond the system's (a private certificate authority).
   */
  constructor(address: string, options: { maxSockets?: number; timeoutMs?: number; ca?: string | Buffer } = {}) {
    const url = new URL(address.includes('://') ? address : `http://${address}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new CirrusError('INVALID_PARAMETER', `an http:// or https:// address, not ${url.protocol}`);
    this.secure = url.protocol === 'https:' ? (options.ca ? { ca: options.ca } : {}) : undefined;
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || (this.secure ? 443 : 80));
    this.hostHeader = url.host;
    this.defaultTimeoutMs = options.timeoutMs ?? 10_000;
    this.maxSockets = options.maxSockets ?? 64;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const timeout = req.timeoutMs ?? this.defaultTimeoutMs;
    let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    if (req.accept !== undefined) head += `accept: ${req.accept}\r\n`;
    if (req.body !== undefined) {
      const length = typeof req.body === 'string' ? Buffer.byteLength(req.body) : req.body.length;
      head += `content-type: ${req.contentType ?? ContentTypes.JSON}\r\ncontent-length: ${length}\r\n`;
    }
    head += '\r\n';
    const { signal } = req;
    signal?.throwIfAborted();
    try {
      const c = await this.acquire();
      const abort = () => c.close();
      signal?.addEventListener('abort', abort, { once: true });
      try {
        return await c.send(head, req.body, timeout, req.method === 'HEAD');
      } finally {
        signal?.removeEventListener('abort', abort);
        this.release(c);
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw this.requestError(req, timeout, e);
    }
  }

  /** A JSON call: a 2xx answer is parsed, anything else becomes the CirrusError it carries. */
  json<T>(method: HttpRequest['method'], path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    return jsonCall<T>(this, method, path, body, timeoutMs);
  }

  /** Closes the idle connections now and each busy one when its request ends; later requests fail. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
    for (const w of this.waiting.splice(0)) w(new HttpTransportError('ECONNRESET', 'client closed'));
  }

  private acquire(): Promise<Http1Connection> {
    if (this.closed) return Promise.reject(new HttpTransportError('ECONNRESET', 'client closed'));
    const now = Date.now();
    for (;;) {
      const c = this.idle.pop();
      if (!c) break;
      if (!c.closed && now - c.idleSince < MAX_IDLE_MS) return Promise.resolve(c);
      c.close();
    }
    if (this.open < this.maxSockets) {
      this.open++;
      return Promise.resolve(new Http1Connection(this.host, this.port, () => this.open--, this.secure));
    }
    return new Promise((resolve, reject) => this.waiting.push((c) => (c instanceof Error ? reject(c) : resolve(c))));
  }

  private release(c: Http1Connection): void {
    if (this.closed) {
      c.close();
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      if (!c.closed) next(c);
      else {
        // Its slot is free now: a new connection for the one waiting.
        this.open++;
        next(new Http1Connection(this.host, this.port, () => this.open--, this.secure));
      }
      return;
    }
    if (!c.closed) this.idle.push(c);
  }

  private requestError(req: HttpRequest, timeout: number, e: unknown): CirrusError {
    if (e instanceof HttpTransportError && e.code === 'TIMEOUT') {
      return new CirrusError('TIMEOUT', `${req.method} ${this.host}:${this.port}${req.path} timed out after ${timeout} ms`, { cause: e });
    }
    return toCirrusError(e);
  }
}

/** A JSON answer body, or undefined when it is empty or not JSON. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A JSON call over any transport with HttpClient's request: a 2xx answer is parsed, anything else becomes the CirrusError it carries. */
export async function jsonCall<T>(
  transport: { request(req: HttpRequest): Promise<HttpResponse> },
  method: HttpRequest['method'],
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<T> {
  const res = await transport.request({ method, path, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs });
  const parsed = parseJson(res.body);
  if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, parsed);
  return parsed as T;
}
