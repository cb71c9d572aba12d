/** Small node:http helpers for the broker's hot path: bounded body reads and JSON answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, ContentTypes } from '@cirrusmq/client/protocol';
import { frameBodyOf } from './remoting-exchange';

/** The media type of a request, without parameters, lower-cased. */
export function mediaType(req: IncomingMessage): string {
  const raw = req.headers['content-type'];
  if (!raw) return '';
  const semi = raw.indexOf(';');
  return (semi < 0 ? raw : raw.slice(0, semi)).trim().toLowerCase();
}

/**
 * Reads the body, refusing one larger than `limit` (PAYLOAD_TOO_LARGE) as soon as the
 * content-length or the bytes received say so, without reading the rest.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  // A remoting request (remoting-exchange.ts) came whole in its frame: no stream to read.
  const framed = frameBodyOf(req);
  if (framed) {
    if (framed.length > limit) return Promise.reject(new CirrusError('PAYLOAD_TOO_LARGE', `request body of ${framed.length} bytes exceeds ${limit}`));
    return Promise.resolve(framed);
  }
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    const length = declared === undefined ? undefined : Number(declared);
    if (length !== undefined && length > limit) {
      return reject(new CirrusError('PAYLOAD_TOO_LARGE', `request body of ${length} bytes exceeds ${limit}`));
    }
    // One allocation when the size is known; chunks are collected otherwise (chunked encoding).
    const fixed = length !== undefined && Number.isSafeInteger(length) ? Buffer.allocUnsafe(length) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > (fixed ? fixed.length : limit)) {
        cleanup();
        req.pause();
        return reject(new CirrusError('PAYLOAD_TOO_LARGE', `request body exceeds ${fixed ? fixed.length : limit} bytes`));
      }
      if (fixed) chunk.copy(fixed, received);
      else chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      if (fixed) {
        if (received !== fixed.length) return reject(new CirrusError('BAD_REQUEST', 'request body shorter than its content-length'));
        return resolve(fixed);
      }
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** JSON already serialized. */
export function sendJsonText(res: ServerResponse, status: number, payload: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': ContentTypes.JSON, 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

export function sendError(res: ServerResponse, err: CirrusError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, err.toJSON(), headers);
}
