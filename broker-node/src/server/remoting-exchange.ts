/**
 * One remoting request as the processors see an HTTP one: the subset of IncomingMessage and
 * ServerResponse that they and http-util.ts use (method, url, headers, the body, writeHead /
 * write / end / cork / uncork, headersSent, destroyed, 'close'), so every route serves both
 * transports with no code of its own. The answer is sent as one frame on end(), its chunks
 * written as they are (the POP records uncopied, as over HTTP).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { FrameHeaders } from '@cirrusmq/client/protocol';

export class RemotingIncoming {
  /** Always whole: the frame carried the body. */
  readonly complete = true;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    /** The request body (readBody takes it as is). */
    readonly frameBody: Buffer,
  ) {}
}

/** The request's body when it came in a frame, undefined for an HTTP request (read from the stream). */
export function frameBodyOf(req: object): Buffer | undefined {
  return req instanceof RemotingIncoming ? req.frameBody : undefined;
}

export type SendAnswer = (status: number, headers: FrameHeaders, body: (Buffer | string)[]) => void;

export class RemotingOutgoing extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  /** The client cancelled the request, or its connection closed: nothing can be answered. */
  destroyed = false;
  /** The client asked for the answer now (END_WAIT): a long poll stops waiting, and answers. */
  waitEnded = false;
  private headers: FrameHeaders = {};
  private readonly chunks: (Buffer | string)[] = [];

  constructor(private readonly send: SendAnswer) {
    super();
  }

  writeHead(status: number, headers?: OutgoingHttpHeaders): this {
    this.statusCode = status;
    if (headers) for (const name in headers) this.setHeader(name, headers[name]);
    this.headersSent = true;
    return this;
  }

  setHeader(name: string, value: OutgoingHttpHeaders[string]): this {
    if (value !== undefined) this.headers[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.writableEnded && !this.destroyed) this.chunks.push(chunk);
    return true;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    if (chunk !== undefined) this.write(chunk);
    this.writableEnded = true;
    this.headersSent = true;
    if (this.destroyed) return this;
    this.send(this.statusCode, this.headers, this.chunks);
    this.emit('close');
    return this;
  }

  // The answer goes out as one frame on end(): corking has nothing to add.
  cork(): void {}
  uncork(): void {}

  /**
   * The broker's error path after the head was written (a processor failing mid-answer): over
   * HTTP the connection is cut; here nothing has left yet, so the request ends as a 500.
   */
  destroy(): this {
    if (this.writableEnded || this.destroyed) return this;
    this.chunks.length = 0;
    this.headers = { 'content-type': 'application/json' };
    this.statusCode = 500;
    return this.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'the answer failed midway' } }));
  }

  /** END_WAIT: a long poll watching 'endwait' answers now with what it has. */
  endWait(): void {
    if (this.writableEnded || this.destroyed || this.waitEnded) return;
    this.waitEnded = true;
    this.emit('endwait');
  }

  /** The client cancelled, or the connection closed: a long poll watching 'close' ends, end() sends nothing. */
  abandon(): void {
    if (this.writableEnded || this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}
