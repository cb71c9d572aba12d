/**
 * The broker's remoting endpoint (client/src/remoting/remoting-frame.ts): connections upgraded
 * from HTTP on the broker's port, each carrying many requests at once. A request frame is
 * dispatched into the same Router and processors as an HTTP request, through
 * RemotingIncoming/RemotingOutgoing; answers go back as they complete, in any order.
 *
 * Bad bytes close that connection (logged) and nothing else; a request over the frame limit
 * is answered PAYLOAD_TOO_LARGE and skipped. close() is graceful: connections end once their
 * answers in flight are out, and a request arriving meanwhile is answered 503.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CirrusError,
  ContentTypes,
  END_WAIT_FEATURE,
  encodeResponseHead,
  type FrameHeaders,
  FrameDecoder,
  FrameError,
  FrameType,
  type Logger,
  REMOTING_FRAMES_HEADER,
  REMOTING_UPGRADE,
  turnCorker,
} from '@cirrusmq/client/protocol';
import { RemotingIncoming, RemotingOutgoing } from './remoting-exchange';

export type Dispatch = (req: RemotingIncoming, res: RemotingOutgoing) => void;

export const REMOTING_UPGRADE_ANSWER = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${REMOTING_UPGRADE}\r\n${REMOTING_FRAMES_HEADER}: ${END_WAIT_FEATURE}\r\n\r\n`;

export class RemotingServer {
  private readonly connections = new Set<RemotingServerConnection>();
  private closing = false;

  constructor(
    private readonly dispatch: Dispatch,
    private readonly logger: Logger,
    /** The largest request frame: a send batch at its limit plus the frame's head. */
    private readonly maxFrameBytes: number,
  ) {}

  /** An HTTP request asking for the upgrade: answers 101 and serves frames on its socket from then on. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const c = new RemotingServerConnection(socket, this.dispatch, this.logger.child({ remote: req.socket.remoteAddress }), this.maxFrameBytes, () =>
      this.connections.delete(c),
    );
    this.connections.add(c);
    socket.write(REMOTING_UPGRADE_ANSWER, 'latin1');
    if (head.length > 0) c.onData(head);
  }

  /** Each connection ends once its answers in flight are out; later requests on it are answered 503. */
  close(): void {
    this.closing = true;
    for (const c of this.connections) c.drain();
  }

  /** Every connection cut now (the drain timeout passed). */
  closeAll(): void {
    for (const c of [...this.connections]) c.destroy();
  }

  /** Connections open now (tests). */
  size(): number {
    return this.connections.size;
  }
}

class RemotingServerConnection {
  private readonly decoder: FrameDecoder;
  /** Requests in flight by id. */
  private readonly exchanges = new Map<number, RemotingOutgoing>();
  private draining = false;
  private closed = false;
  /** The answers of one turn leave in one writev (the ends of one commit flush, the acks of one group of requests). */
  private readonly corkForTurn: () => void;

  constructor(
    private readonly socket: Duplex,
    private readonly dispatch: Dispatch,
    private readonly logger: Logger,
    maxFrameBytes: number,
    private readonly onClose: () => void,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes, true);
    this.corkForTurn = turnCorker(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.destroy());
  }

  onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: ReturnType<FrameDecoder['push']>;
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.logger.warn('remoting connection closed: bad frame', { err: e instanceof FrameError ? e.message : String(e) });
      this.destroy();
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      if (f.type === FrameType.REQUEST) this.onRequest(f.id, f.method, f.target, f.headers, f.body);
      else if (f.type === FrameType.CANCEL) this.onCancel(f.id);
      else if (f.type === FrameType.END_WAIT) this.exchanges.get(f.id)?.endWait();
      else if (f.type === 'oversize') {
        this.answerError(f.id, new CirrusError('PAYLOAD_TOO_LARGE', `request frame of ${f.bytes} bytes exceeds ${this.decoder.limit()}`));
      } else {
        this.logger.warn('remoting connection closed: a client sent an answer frame');
        this.destroy();
        return;
      }
    }
  }

  private onRequest(id: number, method: string, target: string, headers: FrameHeaders, body: Buffer): void {
    if (this.exchanges.has(id)) {
      this.logger.warn('remoting connection closed: a request id reused while in flight', { id });
      this.destroy();
      return;
    }
    if (this.draining) {
      this.answerError(id, new CirrusError('SERVICE_NOT_AVAILABLE', 'the broker is shutting down'));
      return;
    }
    const res = new RemotingOutgoing((status, h, chunks) => this.answer(id, status, h, chunks));
    this.exchanges.set(id, res);
    this.dispatch(new RemotingIncoming(method, target, headers as RemotingIncoming['headers'], body), res);
  }

  private onCancel(id: number): void {
    const res = this.exchanges.get(id);
    if (!res) return;
    this.exchanges.delete(id);
    res.abandon();
    this.endIfDrained();
  }

  private answer(id: number, status: number, headers: FrameHeaders, chunks: (Buffer | string)[]): void {
    if (this.exchanges.get(id) === undefined) return;
    this.exchanges.delete(id);
    this.writeAnswer(id, status, headers, chunks);
    this.endIfDrained();
  }

  private answerError(id: number, err: CirrusError): void {
    this.writeAnswer(id, err.status, { 'content-type': ContentTypes.JSON }, [JSON.stringify(err.toJSON())]);
  }

  private writeAnswer(id: number, status: number, headers: FrameHeaders, chunks: (Buffer | string)[]): void {
    if (this.closed) return;
    const bodies = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c));
    let length = 0;
    for (const b of bodies) length += b.length;
    const head = encodeResponseHead(id, status, headers, length);
    // Heads and chunks, the records uncopied.
    this.corkForTurn();
    this.socket.write(head);
    for (const b of bodies) this.socket.write(b);
  }

  drain(): void {
    this.draining = true;
    this.endIfDrained();
  }

  private endIfDrained(): void {
    if (!this.draining || this.exchanges.size > 0 || this.closed) return;
    this.closed = true;
    this.socket.end();
    this.cleanup();
  }

  destroy(): void {
    if (this.closed) {
      this.socket.destroy();
      return;
    }
    this.closed = true;
    this.socket.destroy();
    this.cleanup();
  }

  /** Requests still in flight learn that no one waits for them (a long poll ends). */
  private cleanup(): void {
    for (const res of this.exchanges.values()) res.abandon();
    this.exchanges.clear();
    this.onClose();
  }
}
