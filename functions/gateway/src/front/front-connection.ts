/**
 * One client connection of the front server (front-server.ts). A plainly framed request for a
 * hot route (send, receive, ack, change-invisibility: hot-routes.ts) is read and answered here,
 * from the socket's bytes, with the same answer node:http would have written; any other
 * request goes to node:http as it came (node-exchange.ts). Requests are answered in order,
 * one at a time: a client that sends the next before its answer (pipelining) finds it read
 * once the answer before it is written.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { jsonObjectOfBytes } from '../../../shared/http';
import type { BodyReader } from '../http-answer';
import type { HotRoute, HotRouter, WireAnswer } from '../hot-routes';
import { MAX_SEND_REQUEST_BYTES } from '../limits';
import { type ExchangeEnd, NodeExchange } from './node-exchange';
import { headerOf, MAX_HEAD_BYTES, type RequestHead, readRequestHead } from './request-head';

const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** A body above this goes to node:http (which streams it, and the route refuses it: 413). */
const MAX_BODY_BYTES = MAX_SEND_REQUEST_BYTES;
/** Read no more from a client that has this much unanswered (pipelined) waiting. */
const MAX_WAITING_BYTES = MAX_BODY_BYTES + MAX_HEAD_BYTES;

export interface FrontTimeouts {
  /** An idle keep-alive connection is closed after this (node:http's keepAliveTimeout). */
  keepAliveMs: number;
  /** A request must arrive whole within this of its first byte (node:http's headersTimeout, applied to the body too). */
  requestMs: number;
}

/** A request read up to its body: its head, and where it ends in the buffer. */
interface Framed {
  head: RequestHead;
  bodyStart: number;
  end: number;
}

export class FrontConnection {
  private buffer: Buffer = EMPTY;
  /** Bytes after `buffer`, not yet joined to it: the rest of a body still arriving. */
  private bodyChunks: Buffer[] = [];
  private bodyBytes = 0;
  /** The head of the request at the start of the buffer, once read. */
  private framed: Framed | undefined;
  /** A request is being answered (here or by node:http). */
  private busy = false;
  /** The client half-closed: end once the answer in flight is written. */
  private ending = false;
  /** The rest of the connection belongs to node:http. */
  private handedOver: NodeExchange | undefined;
  /** The exchange in flight at node:http, if any. */
  private exchange: NodeExchange | undefined;
  /** When the unread request in the buffer began to arrive. */
  private partialSince = 0;

  constructor(
    private readonly socket: Socket,
    private readonly router: HotRouter,
    private readonly http: Server,
    private readonly timeouts: FrontTimeouts,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(timeouts.keepAliveMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.handedOver?.destroy();
      this.exchange?.destroy();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.handedOver) {
      this.handedOver.push(chunk);
      return;
    }
    if (this.buffer.length === 0) this.partialSince = performance.now();
    else if (performance.now() - this.partialSince > this.timeouts.requestMs) {
      // A request trickling in for longer than node:http would wait for it.
      this.socket.destroy();
      return;
    }
    const waiting = this.buffer.length + this.bodyBytes + chunk.length;
    if (waiting > MAX_WAITING_BYTES) this.socket.pause();
    if (this.framed && waiting < this.framed.end) {
      // A large body: its chunks are joined once, when it is whole.
      this.bodyChunks.push(chunk);
      this.bodyBytes += chunk.length;
      return;
    }
    this.buffer = this.buffer.length === 0 && this.bodyBytes === 0 ? chunk : Buffer.concat([this.buffer, ...this.bodyChunks, chunk], waiting);
    this.bodyChunks = [];
    this.bodyBytes = 0;
    this.readNext();
  }

  private onEnd(): void {
    if (this.handedOver) this.handedOver.push(null);
    else if (this.busy) this.ending = true;
    else this.socket.end();
  }

  private onTimeout(): void {
    if (this.handedOver || this.busy) return;
    // Idle past the keep-alive, or a request that stalled: node:http drops both.
    if ((this.buffer.length === 0 && this.bodyBytes === 0) || performance.now() - this.partialSince > this.timeouts.requestMs) this.socket.destroy();
  }

  /** Answers the requests waiting in the buffer, one at a time, while each is whole. */
  private readNext(): void {
    while (!this.busy && !this.handedOver && this.buffer.length > 0) {
      if (!this.framed) {
        const headEnd = this.buffer.indexOf(CRLF2);
        if (headEnd < 0) {
          if (this.buffer.length > MAX_HEAD_BYTES) this.handOver();
          return;
        }
        const head = headEnd <= MAX_HEAD_BYTES ? readRequestHead(this.buffer.toString('latin1', 0, headEnd)) : undefined;
        if (!head || head.contentLength > MAX_BODY_BYTES) {
          this.handOver();
          return;
        }
        this.framed = { head, bodyStart: headEnd + 4, end: headEnd + 4 + head.contentLength };
      }
      const { head, bodyStart, end } = this.framed;
      if (this.buffer.length < end) return;
      const request = this.buffer.subarray(0, end);
      this.buffer = this.buffer.length === end ? EMPTY : this.buffer.subarray(end);
      this.partialSince = performance.now();
      this.framed = undefined;
      if (this.socket.isPaused() && this.buffer.length <= MAX_WAITING_BYTES) this.socket.resume();
      this.busy = true;
      const route = this.router.match(head.method, head.target, head.host);
      if (route) {
        this.answer(route, head, request.subarray(bodyStart)).catch((e: unknown) => {
          this.router.failed(route, e);
          this.socket.destroy();
        });
      } else this.toNode(request);
    }
  }

  private async answer(route: HotRoute, head: RequestHead, body: Buffer): Promise<void> {
    const started = performance.now();
    const header = (name: string) => headerOf(head.rawHeaders, name);
    const readBody: BodyReader = async (maxBytes) => jsonObjectOfBytes(body, header('content-type'), maxBytes);
    const answer = await this.router.answer(route, readBody, header);
    if (this.socket.destroyed) return;
    const close = head.close || this.ending;
    this.write(answer, close);
    this.router.logged(route, answer.status, started);
    this.answered(close);
  }

  /** The answer as node:http writes a hot route's (hot-routes.ts): the same status line and headers, in its order. */
  private write(answer: WireAnswer, close: boolean): void {
    const { socket } = this;
    const parts = answer.parts;
    let length = 0;
    if (parts) for (const p of parts) length += p.length;
    else length = typeof answer.body === 'string' ? Buffer.byteLength(answer.body) : answer.body.length;
    const connection = close ? 'Connection: close\r\n' : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.timeouts.keepAliveMs / 1000)}\r\n`;
    const head =
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'unknown'}\r\n` +
      `Content-Type: ${answer.contentType ?? 'application/json'}\r\nDate: ${httpDate()}\r\n${connection}Content-Length: ${length}\r\n\r\n`;
    socket.cork();
    socket.write(head, 'latin1');
    if (parts) for (const p of parts) socket.write(p);
    else socket.write(answer.body);
    socket.uncork();
  }

  /** After an answer: the next request, once the client has read this one's bytes (or the end). */
  private answered(close: boolean): void {
    this.busy = false;
    if (close) {
      this.socket.end();
      return;
    }
    if (this.socket.writableNeedDrain) this.socket.once('drain', () => this.readNext());
    else this.readNext();
  }

  /** One request for node:http to answer (a route Hono serves). */
  private toNode(request: Buffer): void {
    const exchange = new NodeExchange(this.socket, false, (how: ExchangeEnd) => {
      this.exchange = undefined;
      this.answered(how === 'closed' || this.ending);
    });
    this.exchange = exchange;
    this.http.emit('connection', exchange);
    exchange.push(request);
  }

  /** The rest of the connection for node:http: a request this server does not frame, and all after it. */
  private handOver(): void {
    const exchange = new NodeExchange(this.socket, true, () => this.socket.end());
    this.handedOver = exchange;
    this.http.emit('connection', exchange);
    if (this.socket.isPaused()) this.socket.resume();
    const rest = this.buffer;
    this.buffer = EMPTY;
    this.framed = undefined;
    exchange.push(rest);
    for (const chunk of this.bodyChunks.splice(0)) exchange.push(chunk);
    this.bodyBytes = 0;
  }
}

let dateSecond = -1;
let dateText = '';

/** The Date header's value, made once a second (as node:http caches it). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
