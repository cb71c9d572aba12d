/**
 * A small keep-alive HTTP/1.1 client over node:http. The hot path (a producer's send batch)
 * goes through it, so it does no more than write the body and collect the answer.
 */
import http from 'node:http';
import { CirrusError, errorFromBody, toCirrusError } from '../errors';
import { ContentTypes } from '../api/types';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: Buffer | string;
  contentType?: string;
  timeoutMs?: number;
}

export class HttpClient {
  private readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;

  /** `address` is "host:port" or a base URL such as http://127.0.0.1:9876. */
  constructor(address: string, options: { maxSockets?: number; timeoutMs?: number } = {}) {
    const url = new URL(address.includes('://') ? address : `http://${address}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.defaultTimeoutMs = options.timeoutMs ?? 10_000;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, scheduling: 'lifo' });
  }

  private readonly defaultTimeoutMs: number;

  request(req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      if (req.body !== undefined) {
        headers['content-type'] = req.contentType ?? ContentTypes.JSON;
        headers['content-length'] = Buffer.byteLength(req.body);
      }
      const r = http.request(
        { host: this.host, port: this.port, method: req.method, path: req.path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
          });
          res.on('error', (e) => reject(toCirrusError(e)));
        },
      );
      r.setTimeout(req.timeoutMs ?? this.defaultTimeoutMs, () => {
        r.destroy(new CirrusError('TIMEOUT', `${req.method} ${this.host}:${this.port}${req.path} timed out`));
      });
      r.on('error', (e) => reject(toCirrusError(e)));
      r.end(req.body);
    });
  }

  /** A JSON call: a 2xx answer is parsed, anything else becomes the CirrusError it carries. */
  async json<T>(method: HttpRequest['method'], path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const res = await this.request({
      method,
      path,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs,
    });
    const parsed = res.body.length > 0 ? parseJson(res.body) : undefined;
    if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, parsed);
    return parsed as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
