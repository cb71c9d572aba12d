/**
 * The HTTP edge shared by the NameServer and the gateway (both Hono apps): every error
 * leaves as {"error":{"code","message"}} with the status its code carries, and JSON bodies
 * are read with the checks the API promises (415 for another content type, 400 for bad JSON).
 */
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CirrusError } from '../../client/src/errors';
import type { Logger } from '../../client/src/logger';

export function errorResponse(c: Context, err: CirrusError): Response {
  return c.json(err.toJSON(), err.status as ContentfulStatusCode);
}

/** Installs the not-found and error handlers; unexpected errors are logged and answer 500. */
export function installErrorHandlers(app: Hono, logger: Logger): void {
  app.notFound((c) => errorResponse(c, new CirrusError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((e, c) => {
    if (e instanceof CirrusError) {
      if (e.status >= 500) logger.warn('request failed', { method: c.req.method, path: c.req.path, code: e.code, err: e.message });
      return errorResponse(c, e);
    }
    logger.error('unexpected error', { method: c.req.method, path: c.req.path, err: e });
    return errorResponse(c, new CirrusError('INTERNAL', 'internal error'));
  });
}

/** Reads a JSON object body: 415 unless the content type is JSON, 400 unless it parses to an object. */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new CirrusError('UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json, got "${type || 'none'}"`);
  }
  const text = await c.req.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CirrusError('INVALID_JSON', 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CirrusError('INVALID_JSON', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
