/**
 * node:http's side of the front server (front-connection.ts): a connection made of a Duplex,
 * so node:http parses and answers requests the front server does not, from the client's own
 * bytes, and its answer goes straight to the client's socket. node:http takes any Duplex as a
 * connection (`server.emit('connection', duplex)`); this one also has the few socket methods
 * it calls, as no-ops (the client's socket has its own settings).
 *
 * Two kinds:
 * - one exchange: the bytes of one plainly framed request; when node:http has answered it
 *   (the response's 'finish', seen by nodeExchangeListener), the front server reads on.
 * - the rest of the connection: every byte from here on, for a request the front server cannot
 *   frame; the connection stays with node:http until it closes.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

export type ExchangeEnd = 'answered' | 'closed';

export class NodeExchange extends Duplex {
  private ended = false;

  constructor(
    private readonly client: Socket,
    /** Whether this carries one request or the rest of the connection. */
    readonly whole: boolean,
    /** Called once: 'answered' when node:http finished the exchange's answer and keeps the connection, 'closed' when it ended or dropped it. */
    private readonly onEnd: (how: ExchangeEnd) => void,
  ) {
    super({ allowHalfOpen: true });
  }

  get remoteAddress(): string | undefined {
    return this.client.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.client.remotePort;
  }

  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** Called for each request node:http reads from this connection. */
  watch(res: ServerResponse): void {
    if (this.whole) return;
    res.once('finish', () => this.settle(res.shouldKeepAlive ? 'answered' : 'closed'));
    res.once('close', () => {
      if (!res.writableFinished) this.settle('closed');
    });
  }

  override _read(): void {
    // The front server pushes the client's bytes as they come.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.client.destroyed) callback(new Error('the client closed the connection'));
    else this.client.write(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.client.destroyed) {
      callback(new Error('the client closed the connection'));
      return;
    }
    this.client.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.client.write(chunks[i]!.chunk);
    this.client.write(chunks[chunks.length - 1]!.chunk, callback);
    this.client.uncork();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.settle('closed');
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.settle('closed');
    callback(error);
  }

  private settle(how: ExchangeEnd): void {
    if (this.ended) return;
    this.ended = true;
    // Detached from node:http: it cleans up its side of this connection on 'close'.
    if (how === 'answered') setImmediate(() => this.destroy());
    this.onEnd(how);
  }
}

/** node:http's request listener, telling a NodeExchange when its request has been answered. */
export function nodeExchangeListener(listener: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as unknown;
    if (socket instanceof NodeExchange) socket.watch(res);
    return listener(req, res);
  };
}
