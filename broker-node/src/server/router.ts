/** A tiny exact-path router: the broker has a handful of routes, and this is the hot path. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError } from '@cirrusmq/client/protocol';

export type Method = 'GET' | 'POST';

/** `query` is the raw query string (after "?"), parsed only by handlers that need it. */
export type Handler = (req: IncomingMessage, res: ServerResponse, query: string) => void | Promise<void>;

export class Router {
  private readonly routes = new Map<string, Partial<Record<Method, Handler>>>();
  /** Paths with a trailing parameter ("/v1/messages/by-id/" + id): tried after the exact ones. */
  private readonly prefixes: { prefix: string; byMethod: Partial<Record<Method, Handler>> }[] = [];

  on(method: Method, path: string, handler: Handler): this {
    const byMethod = this.routes.get(path) ?? {};
    byMethod[method] = handler;
    this.routes.set(path, byMethod);
    return this;
  }

  /** A route for every path that starts with `prefix` and has more after it; the handler reads the rest from req.url. */
  onPrefix(method: Method, prefix: string, handler: Handler): this {
    let entry = this.prefixes.find((p) => p.prefix === prefix);
    if (!entry) {
      entry = { prefix, byMethod: {} };
      this.prefixes.push(entry);
    }
    entry.byMethod[method] = handler;
    return this;
  }

  /** The handler for a request, or a NOT_FOUND (405 when only the method is wrong). */
  match(method: string | undefined, url: string | undefined): { handler: Handler; query: string } {
    const raw = url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const byMethod = this.routes.get(path) ?? this.prefixes.find((p) => path.length > p.prefix.length && path.startsWith(p.prefix))?.byMethod;
    if (!byMethod) throw new CirrusError('NOT_FOUND', `no route for ${method} ${path}`);
    const handler = byMethod[method as Method];
    if (!handler) throw new CirrusError('NOT_FOUND', `method ${method} not allowed on ${path}`, { status: 405 });
    return { handler, query: q < 0 ? '' : raw.slice(q + 1) };
  }
}
