/**
 * A keep-alive HTTP/1.1 client over an undici Pool. The hot path (a producer's send batch)
 * goes through it: undici costs a fraction of node:http's ClientRequest per call, which on
 * a 2-core machine is throughput for the brokers.
 */
import { Pool, type Dispatcher } from 'undici';
import { CirrusError, errorFromBody, toCirrusError } from '../errors.js';
import { ContentTypes } from '../api/types.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: Buffer | string;
  contentType?: string;
  timeoutMs?: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export class HttpClient {
  private readonly pool: Pool;
  private readonly defaultTimeoutMs: number;
  readonly host: string;
  readonly port: number;

  /** `address` is "host:port" or a base URL such as http://127.0.0.1:9876. */
  constructor(address: string, options: { maxSockets?: number; timeoutMs?: number } = {}) {
    const url = new URL(address.includes('://') ? address : `http://${address}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.defaultTimeoutMs = options.timeoutMs ?? 10_000;
    this.pool = new Pool(url.origin, { connections: options.maxSockets ?? 64, keepAliveTimeout: 30_000 });
  }

  /**
   * One request through the pool's dispatch API: the answer is collected from handler
   * callbacks, without a body stream and its async iteration (which cost more than the
   * rest of a small call on the send path).
   */
  request(req: HttpRequest): Promise<HttpResponse> {
    const timeout = req.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise<HttpResponse>((resolve, reject) => {
      const handler = new CollectHandler(resolve, (e) => reject(this.requestError(req, timeout, e)));
      try {
        this.pool.dispatch(
          {
            method: req.method,
            path: req.path,
            body: req.body,
            headers: req.body === undefined ? undefined : { 'content-type': req.contentType ?? ContentTypes.JSON },
            headersTimeout: timeout,
            bodyTimeout: timeout,
          },
          handler,
        );
      } catch (e) {
        reject(this.requestError(req, timeout, e));
      }
    });
  }

  private requestError(req: HttpRequest, timeout: number, e: unknown): CirrusError {
    const code = (e as { code?: string }).code;
    if (code && TIMEOUT_CODES.has(code)) {
      return new CirrusError('TIMEOUT', `${req.method} ${this.host}:${this.port}${req.path} timed out after ${timeout} ms`, { cause: e });
    }
    return toCirrusError(e);
  }

  /** A JSON call: a 2xx answer is parsed, anything else becomes the CirrusError it carries. */
  async json<T>(method: HttpRequest['method'], path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const res = await this.request({ method, path, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs });
    const parsed = parseJson(res.body);
    if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, parsed);
    return parsed as T;
  }

  close(): void {
    void this.pool.close();
  }
}

/** Collects one answer: status, headers (lower-case names) and the whole body. */
class CollectHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private done = false;

  constructor(
    private readonly resolve: (res: HttpResponse) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  onRequestStart(): void {
    // A request retried on another socket starts over.
    this.status = 0;
    this.chunks = [];
    this.size = 0;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    const { chunks } = this;
    const body = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, this.size);
    this.resolve({ status: this.status, headers: this.headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }
}

const EMPTY = Buffer.alloc(0);

/** A JSON answer body, or undefined when it is empty or not JSON. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
