/**
 * The remoting protocol's frames: HTTP semantics (method, path, headers, status, body) carried
 * as length-prefixed frames on one persistent connection, many requests in flight at once,
 * answers matched by request id in whatever order they come (RocketMQ's remoting: its
 * RemotingCommand has an opaque request id and a length prefix the same way). Every broker
 * route works over it unchanged: the broker dispatches a request frame into the same Router
 * and processors an HTTP request reaches, and the answer frame holds the bytes the HTTP answer
 * would have (JSON, the POP binary, {"error":{code,message}}).
 *
 * The connection starts as HTTP/1.1 on the broker's port: `GET /v1/remoting` with
 * `Upgrade: cirrusmq-remoting/1`; a 101 answer switches it to frames. Big-endian.
 *
 *  offset size field
 *   0     4   LENGTH        bytes after this field (a frame is 4 + LENGTH bytes)
 *   4     1   TYPE          REQUEST 1, RESPONSE 2, CANCEL 3
 *   5     4   REQUEST_ID    unsigned, chosen by the client, unique among its requests in flight
 *  REQUEST:
 *   9     1   METHOD_LENGTH then METHOD (ASCII: GET, POST)
 *   .     2   TARGET_LENGTH then TARGET (latin1: path and query, as an HTTP request line's)
 *   .     1   HEADER_COUNT  then per header: 1 NAME_LENGTH, NAME (lower-case), 2 VALUE_LENGTH, VALUE (latin1)
 *   .     .   BODY          the rest of the frame
 *  RESPONSE:
 *   9     2   STATUS        the HTTP status
 *  11     1   HEADER_COUNT  then the headers, as in a request (no content-length: the frame has it)
 *   .     .   BODY          the rest of the frame
 *  CANCEL: nothing more; the client gave up on REQUEST_ID (abort, timeout): the broker treats it
 *          as the HTTP request's connection closing (a long poll ends) and answers nothing.
 *  END_WAIT: nothing more; the client no longer needs REQUEST_ID's long poll to wait (another
 *          broker answered its receive): the broker ends the wait now and still answers, with
 *          what it has, so anything leased in the meantime reaches the client (which releases
 *          it) instead of staying leased to nobody. Sent only to a broker whose 101 answer
 *          lists `end-wait` in REMOTING_FRAMES_HEADER; an older broker never sees the type.
 */
import { CirrusError } from '../errors.js';

export const REMOTING_UPGRADE = 'cirrusmq-remoting/1';
/** The path of the upgrade request: a broker that does not speak remoting answers it 404 (the client then uses HTTP). */
export const REMOTING_PATH = '/v1/remoting';

export const FrameType = { REQUEST: 1, RESPONSE: 2, CANCEL: 3, END_WAIT: 4 } as const;

/** The upgrade answer's header listing the optional frame types the broker reads. */
export const REMOTING_FRAMES_HEADER = 'x-cirrusmq-remoting-frames';
/** REMOTING_FRAMES_HEADER's token for END_WAIT. */
export const END_WAIT_FEATURE = 'end-wait';

const LENGTH_BYTES = 4;
const FIXED_BYTES = 9;
/** Room for the method, target and headers of any frame beyond its body. */
export const MAX_FRAME_HEAD_BYTES = 64 * 1024;

export type FrameHeaders = Record<string, string | string[] | undefined>;

export interface RequestFrame {
  type: typeof FrameType.REQUEST;
  id: number;
  method: string;
  target: string;
  headers: FrameHeaders;
  body: Buffer;
}

export interface ResponseFrame {
  type: typeof FrameType.RESPONSE;
  id: number;
  status: number;
  headers: FrameHeaders;
  body: Buffer;
}

export interface CancelFrame {
  type: typeof FrameType.CANCEL;
  id: number;
}

export interface EndWaitFrame {
  type: typeof FrameType.END_WAIT;
  id: number;
}

export type Frame = RequestFrame | ResponseFrame | CancelFrame | EndWaitFrame;

/** Not on the wire: a frame over the decoder's limit that it skipped (FrameDecoder's skipOversize), for an error answer to `id`. */
export interface OversizeFrame {
  type: 'oversize';
  id: number;
  bytes: number;
}

/** Headers as [name, value] pairs (repeated names flattened), content-length dropped. */
function headerPairs(headers: FrameHeaders | undefined): [string, string][] {
  const pairs: [string, string][] = [];
  if (!headers) return pairs;
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-length') continue;
    if (Array.isArray(v)) for (const one of v) pairs.push([lower, one]);
    else pairs.push([lower, String(v)]);
  }
  if (pairs.length > 255) throw new CirrusError('INVALID_PARAMETER', 'a frame carries at most 255 headers');
  return pairs;
}

function headersSize(pairs: [string, string][]): number {
  let n = 1;
  for (const [name, value] of pairs) {
    if (name.length > 255 || value.length > 0xffff) throw new CirrusError('INVALID_PARAMETER', `header ${name.slice(0, 40)} too long for a frame`);
    n += 1 + name.length + 2 + value.length;
  }
  return n;
}

function writeHeaders(buf: Buffer, pos: number, pairs: [string, string][]): number {
  buf[pos++] = pairs.length;
  for (const [name, value] of pairs) {
    buf[pos++] = name.length;
    pos += buf.write(name, pos, 'latin1');
    buf.writeUInt16BE(value.length, pos);
    pos += 2;
    pos += buf.write(value, pos, 'latin1');
  }
  return pos;
}

/** A request frame's head (everything before the body); the body follows it on the wire as is. */
export function encodeRequestHead(id: number, method: string, target: string, headers: FrameHeaders | undefined, bodyLength: number): Buffer {
  const pairs = headerPairs(headers);
  if (method.length > 255 || target.length > 0xffff) throw new CirrusError('INVALID_PARAMETER', 'method or path too long for a frame');
  const headLength = FIXED_BYTES + 1 + method.length + 2 + target.length + headersSize(pairs);
  const buf = Buffer.allocUnsafe(headLength);
  buf.writeUInt32BE(headLength - LENGTH_BYTES + bodyLength, 0);
  buf[4] = FrameType.REQUEST;
  buf.writeUInt32BE(id >>> 0, 5);
  let pos = FIXED_BYTES;
  buf[pos++] = method.length;
  pos += buf.write(method, pos, 'latin1');
  buf.writeUInt16BE(target.length, pos);
  pos += 2;
  pos += buf.write(target, pos, 'latin1');
  writeHeaders(buf, pos, pairs);
  return buf;
}

/** A response frame's head; the body chunks follow it as they are (no copy of the records). */
export function encodeResponseHead(id: number, status: number, headers: FrameHeaders | undefined, bodyLength: number): Buffer {
  const pairs = headerPairs(headers);
  const headLength = FIXED_BYTES + 2 + headersSize(pairs);
  const buf = Buffer.allocUnsafe(headLength);
  buf.writeUInt32BE(headLength - LENGTH_BYTES + bodyLength, 0);
  buf[4] = FrameType.RESPONSE;
  buf.writeUInt32BE(id >>> 0, 5);
  buf.writeUInt16BE(status, FIXED_BYTES);
  writeHeaders(buf, FIXED_BYTES + 2, pairs);
  return buf;
}

export function encodeCancel(id: number): Buffer {
  return fixedFrame(FrameType.CANCEL, id);
}

export function encodeEndWait(id: number): Buffer {
  return fixedFrame(FrameType.END_WAIT, id);
}

/** A frame of its fixed part alone (CANCEL, END_WAIT). */
function fixedFrame(type: number, id: number): Buffer {
  const buf = Buffer.allocUnsafe(FIXED_BYTES);
  buf.writeUInt32BE(FIXED_BYTES - LENGTH_BYTES, 0);
  buf[4] = type;
  buf.writeUInt32BE(id >>> 0, 5);
  return buf;
}

/** Bytes that are not a frame of this protocol: the connection carrying them cannot be trusted further. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Reads one whole frame (LENGTH included). */
export function decodeFrame(frame: Buffer): Frame {
  if (frame.length < FIXED_BYTES) throw new FrameError(`frame of ${frame.length} bytes is shorter than its fixed part`);
  const type = frame[4];
  const id = frame.readUInt32BE(5);
  let pos = FIXED_BYTES;
  const need = (n: number) => {
    if (pos + n > frame.length) throw new FrameError('frame field runs past its end');
  };
  /** A latin1 string after its length, in `lengthBytes` (1 or 2) big-endian bytes. */
  const readString = (lengthBytes: 1 | 2): string => {
    need(lengthBytes);
    const length = lengthBytes === 1 ? frame[pos]! : frame.readUInt16BE(pos);
    pos += lengthBytes;
    need(length);
    const value = frame.toString('latin1', pos, pos + length);
    pos += length;
    return value;
  };
  const readHeaders = (): FrameHeaders => {
    need(1);
    const count = frame[pos++]!;
    const headers: FrameHeaders = {};
    for (let i = 0; i < count; i++) {
      const name = readString(1);
      const value = readString(2);
      const had = headers[name];
      headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    return headers;
  };
  switch (type) {
    case FrameType.REQUEST: {
      const method = readString(1);
      const target = readString(2);
      const headers = readHeaders();
      return { type, id, method, target, headers, body: frame.subarray(pos) };
    }
    case FrameType.RESPONSE: {
      need(2);
      const status = frame.readUInt16BE(pos);
      pos += 2;
      const headers = readHeaders();
      return { type, id, status, headers, body: frame.subarray(pos) };
    }
    case FrameType.CANCEL:
    case FrameType.END_WAIT:
      if (frame.length !== FIXED_BYTES) throw new FrameError(`${type === FrameType.CANCEL ? 'cancel' : 'end-wait'} frame with a body`);
      return { type, id };
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
}

/**
 * Splits a byte stream into frames: reads split anywhere and reads holding several frames
 * alike. A frame over `maxFrameBytes` is refused from its length field, before its bytes are
 * buffered.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The whole size of the frame being buffered, once its length field is in (0 before). */
  private need = 0;
  /** Bytes of a skipped oversize frame still to come. */
  private skip = 0;

  /**
   * `skipOversize`: a frame over the limit is skipped (its bytes discarded as they come) and
   * reported as an OversizeFrame, so the connection goes on (the broker answers it
   * PAYLOAD_TOO_LARGE); otherwise it is a FrameError.
   */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly skipOversize = false,
  ) {}

  /** The whole frames `chunk` completes, in order; throws FrameError on a bad length or frame. */
  push(chunk: Buffer): (Frame | OversizeFrame)[] {
    const out: (Frame | OversizeFrame)[] = [];
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return out;
    }
    let buf: Buffer;
    if (this.buffered === 0) buf = chunk;
    else if (this.need > 0 && this.buffered + chunk.length < this.need) {
      // A big frame arriving in many reads is joined once, not once per read.
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      return out;
    } else {
      this.chunks.push(chunk);
      buf = Buffer.concat(this.chunks, this.buffered + chunk.length);
      this.chunks = [];
      this.buffered = 0;
    }
    this.need = 0;
    let pos = 0;
    while (buf.length - pos >= LENGTH_BYTES) {
      const length = buf.readUInt32BE(pos);
      if (length < FIXED_BYTES - LENGTH_BYTES) throw new FrameError(`frame length ${length} is below the fixed part`);
      const end = pos + LENGTH_BYTES + length;
      if (LENGTH_BYTES + length > this.maxFrameBytes) {
        if (!this.skipOversize) throw new FrameError(`frame of ${LENGTH_BYTES + length} bytes exceeds the ${this.maxFrameBytes} allowed`);
        if (buf.length - pos < FIXED_BYTES) break;
        out.push({ type: 'oversize', id: buf.readUInt32BE(pos + 5), bytes: LENGTH_BYTES + length });
        if (end > buf.length) {
          this.skip = end - buf.length;
          pos = buf.length;
          break;
        }
        pos = end;
        continue;
      }
      if (end > buf.length) {
        this.need = LENGTH_BYTES + length;
        break;
      }
      out.push(decodeFrame(buf.subarray(pos, end)));
      pos = end;
    }
    if (pos < buf.length) {
      // Kept as a copy when small: a subarray would pin the whole read buffer.
      const rest = buf.subarray(pos);
      this.chunks.push(rest.length < 4096 ? Buffer.from(rest) : rest);
      this.buffered = rest.length;
    }
    return out;
  }

  /** The largest frame accepted. */
  limit(): number {
    return this.maxFrameBytes;
  }

  /** Bytes of an incomplete frame held now. */
  pending(): number {
    return this.buffered;
  }
}
