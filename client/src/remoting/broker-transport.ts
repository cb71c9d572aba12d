/**
 * How a BrokerClient reaches its broker: one remoting connection (remoting-connection.ts)
 * carrying every call, or plain HTTP/1.1 (http-client.ts) when the transport is 'http' or the
 * broker refuses the upgrade (an older broker). The same request/json calls and the same
 * errors either way: BROKER_UNAVAILABLE when the connection fails or dies under a request (a
 * send then has an unknown outcome, as over HTTP), TIMEOUT when the answer is late.
 */
import type tls from 'node:tls';
import { CirrusError, toCirrusError } from '../errors.js';
import { HttpClient, type HttpRequest, type HttpResponse, jsonCall } from '../http/http-client.js';
import { HttpTransportError } from '../http/http1-connection.js';
import { RemotingConnection } from './remoting-connection.js';

/** 'remoting' (the default): frames on a persistent connection, HTTP if the broker refuses; 'http': HTTP/1.1 only. */
export type BrokerTransportKind = 'remoting' | 'http';

export interface BrokerTransportOptions {
  timeoutMs?: number;
  /** HTTP only: connections per broker. */
  maxSockets?: number;
  transport?: BrokerTransportKind;
}

/** After a refused upgrade, HTTP for this long before asking again (a broker upgraded in place starts speaking it). */
const REFUSED_RETRY_MS = 60_000;

export class BrokerTransport {
  private readonly http: HttpClient;
  private readonly defaultTimeoutMs: number;
  private readonly kind: BrokerTransportKind;
  private readonly hostHeader: string;
  private readonly secure: tls.ConnectionOptions | undefined;
  private conn: RemotingConnection | undefined;
  private connecting: Promise<RemotingConnection | undefined> | undefined;
  /** The connection being opened (ended when a caller's timeout passes before it is ready: a connect that hangs). */
  private opening: RemotingConnection | undefined;
  private httpUntil = 0;
  private closed = false;

  constructor(address: string, options: BrokerTransportOptions & { ca?: string | Buffer } = {}) {
    this.http = new HttpClient(address, options);
    this.defaultTimeoutMs = options.timeoutMs ?? 10_000;
    this.kind = options.transport ?? 'remoting';
    const url = new URL(address.includes('://') ? address : `http://${address}`);
    this.hostHeader = url.host;
    this.secure = url.protocol === 'https:' ? (options.ca ? { ca: options.ca } : {}) : undefined;
  }

  /** Which transport the next call takes ('remoting' until a refusal is known). */
  current(): BrokerTransportKind {
    return this.kind === 'http' || Date.now() < this.httpUntil ? 'http' : 'remoting';
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    if (this.current() === 'http') return this.http.request(req);
    const timeout = req.timeoutMs ?? this.defaultTimeoutMs;
    const { signal } = req;
    signal?.throwIfAborted();
    const started = Date.now();
    try {
      const c = this.conn && !this.conn.closed ? this.conn : await this.connect(timeout, signal);
      if (!c) return this.http.request(req);
      // The connect's time counts against the request's timeout, as it does over HTTP.
      const left = Math.max(1, timeout - (Date.now() - started));
      return await c.request({
        method: req.method,
        path: req.path,
        body: req.body,
        contentType: req.contentType,
        timeoutMs: left,
        signal,
        endWait: req.endWait,
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw this.requestError(req, timeout, e);
    }
  }

  /** A JSON call: a 2xx answer is parsed, anything else becomes the CirrusError it carries. */
  json<T>(method: HttpRequest['method'], path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    return jsonCall<T>(this, method, path, body, timeoutMs);
  }

  close(): void {
    this.closed = true;
    // As over HTTP: calls in flight are answered, later ones fail.
    this.conn?.closeWhenIdle();
    this.conn = undefined;
    this.opening?.close();
    this.http.close();
  }

  /** The connection, once upgraded; undefined when the broker refused (the caller uses HTTP). */
  private connect(timeoutMs: number, signal: AbortSignal | undefined): Promise<RemotingConnection | undefined> {
    if (this.closed) return Promise.reject(new HttpTransportError('ECONNRESET', 'client closed'));
    if (!this.connecting) {
      const c = new RemotingConnection(
        this.http.host,
        this.http.port,
        this.hostHeader,
        (gone) => {
          if (this.conn === gone) this.conn = undefined;
        },
        this.secure,
      );
      this.opening = c;
      this.connecting = c.ready.then(
        (outcome) => {
          this.connecting = undefined;
          this.opening = undefined;
          if (outcome.kind === 'refused') {
            this.httpUntil = Date.now() + REFUSED_RETRY_MS;
            return undefined;
          }
          if (this.closed) {
            c.close();
            throw new HttpTransportError('ECONNRESET', 'client closed');
          }
          this.conn = c;
          return c;
        },
        (e: unknown) => {
          this.connecting = undefined;
          this.opening = undefined;
          throw e;
        },
      );
    }
    const connecting = this.connecting;
    // Each caller waits at most its own timeout (or until its signal); the connect goes on for the others.
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opening?.close();
        done(() => reject(new HttpTransportError('TIMEOUT', `no connection within ${timeoutMs} ms`)));
      }, timeoutMs);
      const onAbort = () => done(() => reject(signal!.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (settle: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      connecting.then(
        (c) => done(() => resolve(c)),
        (e: unknown) => done(() => reject(e)),
      );
    });
  }

  private requestError(req: HttpRequest, timeout: number, e: unknown): CirrusError {
    if (e instanceof HttpTransportError && e.code === 'TIMEOUT') {
      return new CirrusError('TIMEOUT', `${req.method} ${this.http.host}:${this.http.port}${req.path} timed out after ${timeout} ms`, { cause: e });
    }
    return toCirrusError(e);
  }
}
