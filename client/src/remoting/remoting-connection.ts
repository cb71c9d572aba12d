/**
 * One remoting connection to a broker (remoting-frame.ts): many requests in flight, answered
 * in any order. It opens as HTTP/1.1 with an Upgrade on the broker's own port; `ready` says
 * whether the broker switched (a broker that does not speak remoting answers 404 and is used
 * over HTTP by the caller). Failures reject with the HTTP client's HttpTransportError codes
 * (ECONNREFUSED, ECONNRESET, TIMEOUT, HTTP_PARSE) so callers map them to the same CirrusErrors.
 */
import net from 'node:net';
import tls from 'node:tls';
import { HttpTransportError, type HttpResponse } from '../http/http1-connection.js';
import { turnCorker } from './turn-cork.js';
import {
  END_WAIT_FEATURE,
  encodeCancel,
  encodeEndWait,
  encodeRequestHead,
  type FrameHeaders,
  FrameDecoder,
  FrameError,
  FrameType,
  REMOTING_FRAMES_HEADER,
  REMOTING_PATH,
  REMOTING_UPGRADE,
} from './remoting-frame.js';

/** Answers larger than this are refused (a sanity bound: a POP of 32 messages of 4 MiB fits). */
export const MAX_RESPONSE_FRAME_BYTES = 256 * 1024 * 1024;
const MAX_UPGRADE_HEAD_BYTES = 16 * 1024;
/**
 * How long a connected server may take to answer the upgrade before it counts as refused (the
 * calls then go over HTTP): a broker answers it at once, from its event loop; a server that
 * takes the upgrade request for something else may never answer it.
 */
export const UPGRADE_ANSWER_TIMEOUT_MS = 1_000;
/** How long a probe of a silent connection (GET /healthz) may take before the connection is given up. */
const PROBE_TIMEOUT_MS = 3_000;
const CRLF2 = Buffer.from('\r\n\r\n');

export interface RemotingRequest {
  method: string;
  /** Path and query. */
  path: string;
  body?: Buffer | string;
  contentType?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Aborting it asks the broker to end the request's long poll now (an END_WAIT frame); unlike
   * `signal`, the answer still comes. Ignored by a broker that does not read END_WAIT.
   */
  endWait?: AbortSignal;
}

interface Pending {
  resolve: (res: HttpResponse) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  /** `reads` when its bytes were handed to the socket (-1 while it waits in the backlog). */
  readsAtSend: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  endWait: AbortSignal | undefined;
  onEndWait: (() => void) | undefined;
}

/** 'remoting': frames from now on; 'refused': the server answered the upgrade with `status`, 0 for no answer in time (use HTTP). */
export type UpgradeOutcome = { kind: 'remoting' } | { kind: 'refused'; status: number };

export class RemotingConnection {
  private readonly socket: net.Socket;
  /** The requests made in one turn (a consumer's acks, a producer's sends and commits) leave in one writev. */
  private readonly corkForTurn: () => void;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new FrameDecoder(MAX_RESPONSE_FRAME_BYTES);
  /** Frames waiting for the socket to drain, by request id (a cancel before they go out drops them). */
  private readonly backlog = new Map<number, (Buffer | string)[]>();
  private upgradeHead: Buffer | undefined;
  private upgraded = false;
  /** The broker's 101 listed END_WAIT among the frames it reads. */
  private endWaitRead = false;
  private nextId = 1;
  /** Reads from the broker so far (a count, not a time: a read and a send can share a millisecond); none since a request that timed out was sent hints at a dead connection. */
  private reads = 0;
  private probing = false;
  /** closeWhenIdle() was called: no new requests, and the socket closes with the last answer. */
  private closing = false;
  private settleReady!: (o: UpgradeOutcome) => void;
  private failReady!: (e: Error) => void;
  readonly ready: Promise<UpgradeOutcome>;
  closed = false;

  constructor(
    host: string,
    port: number,
    hostHeader: string,
    /** Called once, when the connection can carry nothing more. */
    private readonly onClose: (c: RemotingConnection) => void,
    secure?: tls.ConnectionOptions,
  ) {
    this.ready = new Promise<UpgradeOutcome>((resolve, reject) => {
      this.settleReady = resolve;
      this.failReady = reject;
    });
    // Nobody may await ready (a request that timed out first): no unhandled rejection then.
    this.ready.catch(() => {});
    this.socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], ...secure })
      : net.connect({ host, port, noDelay: true });
    if (secure) this.socket.setNoDelay(true);
    this.corkForTurn = turnCorker(this.socket);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => {
      const late = setTimeout(() => {
        if (this.upgraded || this.closed) return;
        this.settleReady({ kind: 'refused', status: 0 });
        this.destroy();
      }, UPGRADE_ANSWER_TIMEOUT_MS);
      late.unref();
      this.ready.then(
        () => clearTimeout(late),
        () => clearTimeout(late),
      );
    });
    this.socket.write(
      `GET ${REMOTING_PATH} HTTP/1.1\r\nhost: ${hostHeader}\r\nconnection: Upgrade\r\nupgrade: ${REMOTING_UPGRADE}\r\ncontent-length: 0\r\n\r\n`,
      'latin1',
    );
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('drain', () => this.flushBacklog());
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new HttpTransportError(e.code ?? 'ECONNRESET', e.message)));
    this.socket.on('close', () =>
      this.fail(new HttpTransportError('ECONNRESET', this.upgraded ? 'connection closed before the answer was complete' : 'connection closed')),
    );
  }

  /** Requests in flight on it now. */
  inFlight(): number {
    return this.pending.size;
  }

  request(req: RemotingRequest): Promise<HttpResponse> {
    if (this.closed || this.closing || !this.upgraded) return Promise.reject(new HttpTransportError('ECONNRESET', 'connection closed'));
    req.signal?.throwIfAborted();
    const id = this.takeId();
    const body = req.body;
    const bodyLength = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const headers: FrameHeaders | undefined = body === undefined ? undefined : { 'content-type': req.contentType ?? 'application/json' };
    const head = encodeRequestHead(id, req.method, req.path, headers, bodyLength);
    return new Promise<HttpResponse>((resolve, reject) => {
      const timer = setTimeout(() => this.timeout(id, req.timeoutMs), req.timeoutMs);
      const signal = req.signal;
      const onAbort = signal ? () => this.cancel(id, signal.reason) : undefined;
      signal?.addEventListener('abort', onAbort!, { once: true });
      const endWait = this.endWaitRead ? req.endWait : undefined;
      const onEndWait = endWait ? () => this.endWait(id) : undefined;
      endWait?.addEventListener('abort', onEndWait!, { once: true });
      this.pending.set(id, { resolve, reject, timer, readsAtSend: -1, signal, onAbort, endWait, onEndWait });
      this.socket.ref();
      this.write(id, bodyLength > 0 ? [head, body!] : [head]);
    });
  }

  /** As the HTTP client's close(): requests in flight get their answers, then the socket closes; new ones are refused. */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.pending.size === 0) this.destroy();
  }

  /** Fails every request in flight and closes the socket. */
  close(): void {
    this.fail(new HttpTransportError('ECONNRESET', 'connection closed by the client'));
  }

  private takeId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private write(id: number, parts: (Buffer | string)[]): void {
    if (this.backlog.size > 0 || this.socket.writableNeedDrain) {
      this.backlog.set(id, parts);
      return;
    }
    this.writeNow(id, parts);
  }

  private writeNow(id: number, parts: (Buffer | string)[]): void {
    const p = this.pending.get(id);
    if (p) p.readsAtSend = this.reads;
    this.corkForTurn();
    for (const part of parts) this.socket.write(part);
    // Asked to end its wait while it waited in the backlog: the END_WAIT follows it.
    if (p?.endWait?.aborted) this.socket.write(encodeEndWait(id));
  }

  private flushBacklog(): void {
    for (const [id, parts] of this.backlog) {
      if (this.socket.writableNeedDrain || this.closed) return;
      this.backlog.delete(id);
      this.writeNow(id, parts);
    }
  }

  /** Ends a request: the broker is told (a long poll there ends) unless its frame never left. */
  private cancel(id: number, reason: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.settle(id, p);
    if (this.backlog.delete(id)) {
      // Never sent: nothing to tell the broker.
    } else if (!this.closed) this.socket.write(encodeCancel(id));
    p.reject(reason);
  }

  /** The broker ends the request's wait and answers; a frame still in the backlog takes the END_WAIT with it (writeNow). */
  private endWait(id: number): void {
    if (!this.pending.has(id) || this.backlog.has(id) || this.closed) return;
    this.socket.write(encodeEndWait(id));
  }

  private timeout(id: number, timeoutMs: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    const silent = p.readsAtSend === this.reads;
    this.cancel(id, new HttpTransportError('TIMEOUT', `no complete answer within ${timeoutMs} ms`));
    if (silent) this.probe();
  }

  /**
   * Nothing at all from the broker since a request that timed out went out: a slow broker, or a
   * dead connection (its host gone without a reset)? Over HTTP each request has its own
   * connection and a new one follows; here the connection would serve nothing ever again, so
   * it is asked for GET /healthz and given up (every request on it failing, the next call
   * reconnecting) if that brings no byte either. A slow broker's other requests live on.
   */
  private probe(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    const since = this.reads;
    this.request({ method: 'GET', path: '/healthz', timeoutMs: PROBE_TIMEOUT_MS }).then(
      () => {
        this.probing = false;
      },
      () => {
        this.probing = false;
        if (this.reads === since) this.fail(new HttpTransportError('ECONNRESET', 'no bytes from the broker, not even for a probe'));
      },
    );
  }

  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (p.onEndWait) p.endWait!.removeEventListener('abort', p.onEndWait);
    // An idle connection does not keep the process alive.
    if (this.pending.size === 0) {
      this.socket.unref();
      if (this.closing) this.destroy();
    }
  }

  private onData(chunk: Buffer): void {
    this.reads++;
    if (!this.upgraded) {
      chunk = this.onUpgradeData(chunk) ?? Buffer.alloc(0);
      if (!this.upgraded || chunk.length === 0) return;
    }
    let frames: ReturnType<FrameDecoder['push']>;
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.fail(new HttpTransportError('HTTP_PARSE', e instanceof FrameError ? e.message : String(e)));
      return;
    }
    for (const f of frames) {
      if (f.type !== FrameType.RESPONSE) {
        this.fail(new HttpTransportError('HTTP_PARSE', `unexpected frame type ${f.type} from the broker`));
        return;
      }
      const p = this.pending.get(f.id);
      // A late answer to a request cancelled or timed out here: dropped.
      if (!p) continue;
      this.settle(f.id, p);
      p.resolve({ status: f.status, headers: f.headers, body: f.body });
    }
  }

  /** The upgrade answer's head; returns the bytes after it once a 101 is in. */
  private onUpgradeData(chunk: Buffer): Buffer | undefined {
    const buf = this.upgradeHead ? Buffer.concat([this.upgradeHead, chunk]) : chunk;
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      if (buf.length > MAX_UPGRADE_HEAD_BYTES) this.fail(new HttpTransportError('HTTP_PARSE', 'upgrade answer head too long'));
      else this.upgradeHead = buf;
      return undefined;
    }
    this.upgradeHead = undefined;
    const head = buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) {
      this.fail(new HttpTransportError('HTTP_PARSE', `not an HTTP/1.x answer: ${head.slice(0, 40)}`));
      return undefined;
    }
    const upgrade = /\r\nupgrade:\s*([^\r]*)/i.exec(head)?.[1]?.trim().toLowerCase();
    if (status !== 101 || upgrade !== REMOTING_UPGRADE) {
      this.settleReady({ kind: 'refused', status });
      this.destroy();
      return undefined;
    }
    this.upgraded = true;
    const frames = new RegExp(`\\r\\n${REMOTING_FRAMES_HEADER}:\\s*([^\\r]*)`, 'i').exec(head)?.[1];
    this.endWaitRead = frames?.split(',').some((f) => f.trim().toLowerCase() === END_WAIT_FEATURE) ?? false;
    // Nothing asked yet: an open connection alone does not keep the process alive.
    if (this.pending.size === 0) this.socket.unref();
    this.settleReady({ kind: 'remoting' });
    return buf.subarray(end + 4);
  }

  private fail(e: Error): void {
    this.destroy();
    this.failReady(e);
    this.backlog.clear();
    for (const [id, p] of [...this.pending]) {
      this.settle(id, p);
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
