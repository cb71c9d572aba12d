/**
 * The hot routes, the ones a producer and a consumer call per batch (send, receive, ack,
 * change-invisibility), answered without Hono: by the process's node:http listener below, or
 * by the front server (front/front-server.ts) from the socket's bytes; every other request goes
 * to Hono's listener unchanged. Hono costs these routes more CPU than their
 * own work: @hono/node-server builds a fetch Request and Response around each request and
 * the router, middleware and Context run per call. The answers are the same bytes: both
 * servers call the same functions (send-messages.ts, consume-calls.ts) for the checks, the
 * broker calls, the answer and the metrics, and the same readers and error answer
 * (functions/shared/http.ts). The routes stay declared in the Hono app, so the OpenAPI
 * document still describes them, and the Lambda handler serves them through Hono.
 *
 * A request is served here only when Hono would see exactly the same path and parameters:
 * a POST whose target @hono/node-server takes as it is (its own fast check, copied below),
 * with no percent-encoding (Hono's decoding is its own) and no fragment. Anything else
 * (HEAD, other methods, encoded names, odd paths) goes to Hono and is answered as before.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getQueryParam } from 'hono/utils/url';
import { errorAnswer, logRequest, readNodeJsonObject } from '../../shared/http';
import { consumeCalls, type TopicGroupRaw } from './consume-calls';
import { headerOf } from './front/request-head';
import type { GatewayDeps } from './deps';
import type { BodyReader, HttpAnswer } from './http-answer';
import { sendMessages } from './send-messages';

/** @hono/node-server's buildUrl: a host and target it uses without the URL parser; here without '#' too ('%' is not in the set). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;
const PLAIN_TARGET = /^\/[!$&-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/;

/** A request header by lower-case name, as a fetch Headers object reads it (repeats joined by ", "). */
export type HeaderReader = (name: string) => string | undefined;

type HotCall = (readBody: BodyReader, header: HeaderReader) => Promise<HttpAnswer>;

export interface HotRoute {
  /** c.req.path as Hono reads it: the target up to its query. */
  path: string;
  call: HotCall;
  /** The send route's mode query parameter as Hono reads it (it labels the send histogram). */
  send?: { mode: string | undefined };
}

/** A hot route's answer as written: the status, the type, then the body (or its parts, in one writev). */
export interface WireAnswer {
  status: number;
  body: string | Buffer;
  contentType?: string;
  parts?: readonly Buffer[];
}

/** The hot routes, for whichever server reads the request (this listener, or the front server: front/front-server.ts). */
export interface HotRouter {
  /** The hot route a request asks for, or undefined when Hono is to answer it. */
  match(method: string | undefined, url: string | undefined, host: string | undefined): HotRoute | undefined;
  /** The route's answer, a refusal included, with the send histogram observed. */
  answer(route: HotRoute, readBody: BodyReader, header: HeaderReader): Promise<WireAnswer>;
  /** The request's log line, once its answer is written. */
  logged(route: HotRoute, status: number, started: number): void;
  /** The log line of an answer that could not be written. */
  failed(route: HotRoute, err: unknown): void;
}

export function hotRouter(deps: GatewayDeps): HotRouter {
  const calls = consumeCalls(deps);
  const { logger, metrics } = deps;
  return {
    match(method, url, host) {
      if (method !== 'POST' || url === undefined || host === undefined || !hostTaken(host)) return undefined;
      if (!PLAIN_TARGET.test(url) || DOT_SEGMENT.test(url)) return undefined;
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const parts = path.split('/');
      if (parts[1] !== 'v1' || parts[2] !== 'topics' || !parts[3]) return undefined;
      const topic = parts[3];
      if (parts.length === 5 && parts[4] === 'messages') {
        const mode = q < 0 ? undefined : (getQueryParam(url, 'mode') as string | undefined);
        return { path, send: { mode }, call: (readBody) => sendMessages(deps, topic, mode, readBody) };
      }
      if (parts.length !== 7 || parts[4] !== 'groups' || !parts[5]) return undefined;
      const params: TopicGroupRaw = { topic, group: parts[5] };
      switch (parts[6]) {
        case 'receive':
          return { path, call: (readBody, header) => calls.receive(params, readBody, header('accept')) };
        case 'ack':
          return { path, call: (readBody) => calls.ack(params, readBody) };
        case 'change-invisibility':
          return { path, call: (readBody) => calls.changeInvisibility(params, readBody) };
        default:
          return undefined;
      }
    },

    async answer(route, readBody, header) {
      const started = performance.now();
      let answer: WireAnswer;
      try {
        answer = await route.call(readBody, header);
      } catch (e) {
        answer = errorAnswer(e, logger, 'POST', route.path);
      }
      if (route.send) metrics.observeSend(route.send.mode, answer.status, started);
      return answer;
    },

    logged(route, status, started) {
      logRequest(logger, 'POST', route.path, status, started);
    },

    failed(route, err) {
      logger.error('hot route failed', { method: 'POST', path: route.path, err });
    },
  };
}

export function hotRoutesListener(router: HotRouter, fallback: RequestListener): RequestListener {
  const serve = async (req: IncomingMessage, res: ServerResponse, route: HotRoute): Promise<void> => {
    const started = performance.now();
    const readBody: BodyReader = (maxBytes) => readNodeJsonObject(req, headerOf(req.rawHeaders, 'content-type'), maxBytes);
    const answer = await router.answer(route, readBody, (name) => headerOf(req.rawHeaders, name));
    // As @hono/node-server writes it: the status, the type, then end() adds the length.
    res.statusCode = answer.status;
    res.setHeader('Content-Type', answer.contentType ?? 'application/json');
    if (answer.parts) endWithParts(res, answer.parts);
    else res.end(answer.body);
    router.logged(route, answer.status, started);
  };

  return (req, res) => {
    const route = router.match(req.method, req.url, req.headers.host);
    if (route === undefined) return fallback(req, res);
    serve(req, res, route).catch((e: unknown) => {
      router.failed(route, e);
      res.destroy();
    });
  };
}

/** The pieces as one body of a known length, in one writev (the socket corked while they are queued). */
function endWithParts(res: ServerResponse, parts: readonly Buffer[]): void {
  let length = 0;
  for (const p of parts) length += p.length;
  res.setHeader('Content-Length', length);
  res.cork();
  for (const p of parts) res.write(p);
  res.end();
  res.uncork();
}

/** The last host found good: a connection sends the same one each time. */
let goodHost = '';

/** True when @hono/node-server builds its URL from this host (buildUrl); it answers 400 for one it does not. */
function hostTaken(host: string): boolean {
  if (host === goodHost || PLAIN_HOST.test(host)) return true;
  try {
    const { hostname } = new URL(`http://${host}/`);
    if (hostname.length !== host.length && hostname !== (host.includes(':') ? host.replace(/:\d+$/, '') : host).toLowerCase()) return false;
  } catch {
    return false;
  }
  goodHost = host;
  return true;
}
