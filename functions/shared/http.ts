/**
 * The HTTP edge shared by the NameServer and the gateway (both Hono apps): every failure
 * leaves as {"error":{"code","message"}} with the CirrusError's status, and JSON bodies are
 * read with the checks the API promises (415 for another content type, 400 for bad JSON).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { IncomingMessage } from 'node:http';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CirrusError, type Logger } from '@cirrusmq/client/protocol';

/** The JSON error answer for any thrown value; unexpected ones are logged and hidden as 500. */
export function errorResponse(c: Context, err: unknown, logger?: Logger): Response {
  const { status, body } = errorAnswer(err, logger, c.req.method, c.req.path);
  return c.body(body, status as ContentfulStatusCode, { 'Content-Type': 'application/json' });
}

/**
 * errorResponse's status and text, for a listener that answers without Hono (the gateway's
 * hot routes, functions/gateway/src/hot-routes.ts): both answer the same bytes.
 */
export function errorAnswer(err: unknown, logger: Logger | undefined, method: string, path: string): { status: number; body: string } {
  if (err instanceof CirrusError) return { status: err.status, body: JSON.stringify(err.toJSON()) };
  logger?.error('unhandled error', { method, path, err });
  // The message of an unexpected error may leak internals (table names, stack hints).
  return { status: 500, body: JSON.stringify(new CirrusError('INTERNAL', 'internal error').toJSON()) };
}

/** The largest JSON body any route takes unless it says otherwise. */
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * The request body as parsed JSON. 415 unless the content type is JSON (application/json
 * or a +json type), 413 past `maxBytes`, 400 INVALID_TEXT when it is not UTF-8, 400
 * INVALID_JSON when it does not parse.
 */
export async function readJsonBody(c: Context, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<unknown> {
  checkJsonType(c.req.header('content-type'));
  return parseJsonBytes(await readBodyBytes(c, maxBytes));
}

/**
 * readJsonObject for a node request served without Hono (the gateway's hot routes): the same
 * checks in the same order, the same errors. `contentType` is the header as a fetch Headers
 * object reads it (repeated headers joined by ", ").
 */
export async function readNodeJsonObject(
  incoming: IncomingMessage,
  contentType: string | undefined,
  maxBytes = DEFAULT_MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  checkJsonType(contentType);
  const tooLarge = () => new CirrusError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes`);
  if (Number(incoming.headers['content-length']) > maxBytes) throw tooLarge();
  return jsonObject(parseJsonBytes(await readNodeBody(incoming, maxBytes, tooLarge)));
}

/** readNodeJsonObject of a body already read whole (the gateway's front server): the same checks in the same order, the same errors. */
export function jsonObjectOfBytes(body: Buffer, contentType: string | undefined, maxBytes = DEFAULT_MAX_BODY_BYTES): Record<string, unknown> {
  checkJsonType(contentType);
  if (body.length > maxBytes) throw new CirrusError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes`);
  return jsonObject(parseJsonBytes(body));
}

/** 415 unless `header` names JSON (application/json or a +json type). */
function checkJsonType(header: string | undefined): void {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new CirrusError('UNSUPPORTED_MEDIA_TYPE', `expected content-type application/json, got "${type || 'none'}"`);
  }
}

function parseJsonBytes(bytes: Buffer): unknown {
  // JSON is UTF-8 (RFC 8259); decoding other bytes would turn them into U+FFFD and store
  // text the client never sent. isUtf8 is a native SIMD scan, cheap beside JSON.parse.
  // ASCII (the usual JSON) is UTF-8 that latin1 decodes as itself, several times faster.
  const ascii = isAscii(bytes);
  if (!ascii && !isUtf8(bytes)) throw new CirrusError('INVALID_TEXT', 'request body is not valid UTF-8: send binary message bodies as bodyEncoding "base64"');
  const text = bytes.toString(ascii ? 'latin1' : 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CirrusError('INVALID_JSON', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The raw body, at most `maxBytes` (413 past it, told by content-length before reading when
 * the client sends one). On a local server it reads the node request directly: Hono's
 * web-stream body costs more than the JSON parse on the send path.
 */
export async function readBodyBytes(c: Context, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new CirrusError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes`);
  const declared = Number(c.req.header('content-length'));
  if (declared > maxBytes) throw tooLarge();
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage)) {
    const buf = Buffer.from(await c.req.arrayBuffer());
    if (buf.length > maxBytes) throw tooLarge();
    return buf;
  }
  return readNodeBody(incoming, maxBytes, tooLarge);
}

/**
 * Collects a node request's body with listeners attached at once, before the body arrives:
 * a flowing stream hands each chunk straight over, where an async iterator buffers it,
 * pauses the socket past the stream's high-water mark (two epoll calls a request) and costs
 * promises per chunk. Past `maxBytes` the rest of the body is dropped unread.
 */
function readNodeBody(incoming: IncomingMessage, maxBytes: number, tooLarge: () => CirrusError): Promise<Buffer> {
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise<Buffer>((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    const done = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        done();
        reject(tooLarge());
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onClose = () => {
      done();
      reject(new Error('the client closed the connection before sending the whole body'));
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
    // A stream counts as "sync" until its first read, and buffers what is pushed meanwhile:
    // the body arriving with the headers would then overflow the high-water mark and pause
    // the socket. One read now lets each chunk go straight to onData as it is parsed.
    incoming.read(0);
  });
}

/** readJsonBody, and the result must be a JSON object. */
export async function readJsonObject(c: Context, maxBytes?: number): Promise<Record<string, unknown>> {
  return jsonObject(await readJsonBody(c, maxBytes));
}

function jsonObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CirrusError('BAD_REQUEST', 'request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** Request logs at debug level, JSON errors for everything thrown, and NOT_FOUND for unknown routes. */
export function installHttpBasics(app: Hono, logger: Logger): void {
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logRequest(logger, c.req.method, c.req.path, c.res.status, started);
  });
  app.onError((err, c) => errorResponse(c, err, logger));
  app.notFound((c) => errorResponse(c, new CirrusError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));
}

/** The debug line every request leaves (installHttpBasics; the gateway's hot routes too). */
export function logRequest(logger: Logger, method: string, path: string, status: number, started: number): void {
  logger.debug('request', { method, path, status, ms: Math.round((performance.now() - started) * 10) / 10 });
}
