/**
 * A minimal Redis (RESP2) client over one socket, for the benches: commands are pipelined and
 * answered in order, pre-encoded commands can be written in bulk, and replies are parsed
 * without a promise per command (no redis npm package is installed, and a lean client keeps
 * the peer's figures from being held back by client machinery).
 */
import net from 'node:net';

export class RespError extends Error {}
export type RespReply = string | number | null | RespError | RespReply[];

/** The wire form of one command: an array of bulk strings. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

interface Waiter {
  onReply: (r: RespReply) => void;
  remaining: number;
}

export class RespConnection {
  private readonly waiters: Waiter[] = [];
  private head = 0;
  private pending: Buffer | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('redis connection closed')));
  }

  static connect(address: string): Promise<RespConnection> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), host!, () => {
        socket.off('error', reject);
        resolve(new RespConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** One command; its reply (a RespError reply rejects). */
  command(args: readonly (string | Buffer)[]): Promise<RespReply> {
    return new Promise((resolve, reject) => {
      this.sendRaw(encodeCommand(args), 1, (r) => (r instanceof RespError ? reject(r) : resolve(r)));
    });
  }

  /** Writes `count` pre-encoded commands at once; `onReply` gets each of their replies, in order. */
  sendRaw(bytes: Buffer, count: number, onReply: (r: RespReply) => void): void {
    if (this.failure) throw this.failure;
    this.waiters.push({ onReply, remaining: count });
    this.socket.write(bytes);
  }

  /** Runs `fn` with the socket corked, so the commands it writes leave in one write. */
  corked(fn: () => void): void {
    this.socket.cork();
    try {
      fn();
    } finally {
      this.socket.uncork();
    }
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.socket.destroy();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const err = new RespError(e.message);
    for (let i = this.head; i < this.waiters.length; i++) for (let n = this.waiters[i]!.remaining; n > 0; n--) this.waiters[i]!.onReply(err);
    this.waiters.length = 0;
    this.head = 0;
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const parsed = parseReply(buf, pos);
      if (!parsed) break;
      pos = parsed.end;
      const w = this.waiters[this.head];
      if (!w) continue; // a reply nobody waits for (the connection is closing)
      if (--w.remaining === 0) {
        this.head++;
        // Drop answered waiters now and then, not on every reply.
        if (this.head > 1024) {
          this.waiters.splice(0, this.head);
          this.head = 0;
        }
      }
      w.onReply(parsed.value);
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : undefined;
  }
}

/** One reply starting at `pos`, or undefined when it is not all in `buf` yet. */
function parseReply(buf: Buffer, pos: number): { value: RespReply; end: number } | undefined {
  if (pos >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = buf[pos]!;
  const line = buf.toString('latin1', pos + 1, eol);
  switch (type) {
    case 0x2b: // +
      return { value: line, end: eol + 2 };
    case 0x2d: // -
      return { value: new RespError(line), end: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), end: eol + 2 };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (eol + 2 + n + 2 > buf.length) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: RespReply[] = [];
      let end = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, end);
        if (!item) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP type byte ${type}`);
  }
}
