/**
 * The consume routes (client/src/api/consume-types.ts) over the broker's PopService:
 *   POST /v1/consume/pop, /ack, /change-invisibility; GET /v1/consume/progress;
 *   POST /v1/consume/offsets/commit, /offsets/reset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allOk, allOkAnswerJson, CirrusError, ContentTypes, popResultParts, validateGroup, validateTopic } from '@cirrusmq/client/protocol';
import type { PopService } from '../consumer/pop-service';
import type { BrokerServerContext } from './context';
import { readBody, sendJson, sendJsonText } from './http-util';
import {
  parseJsonObject,
  validateAckRequest,
  validateChangeInvisibilityRequest,
  validateCommitOffsetRequest,
  validatePopRequest,
  validateResetOffsetRequest,
} from './consume-request';

/** Consume requests are small JSON: 100 handles of ~200 bytes fit well within. */
const MAX_CONSUME_BODY_BYTES = 256 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse, query: string) => Promise<void>;

function popService(ctx: BrokerServerContext): PopService {
  if (!ctx.popService || !ctx.store.isOpen()) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} does not serve consumers now`);
  return ctx.popService;
}

async function body(req: IncomingMessage) {
  return parseJsonObject(await readBody(req, MAX_CONSUME_BODY_BYTES));
}

/**
 * What ends a long poll before its time: the client left (its connection closed or it
 * cancelled; 'close' also follows every answer, so it is listened to for long polls alone), or
 * over remoting it asked for the answer now (END_WAIT, remoting-exchange.ts), perhaps before
 * this request's body was even read.
 */
function waitEnds(res: ServerResponse): { signal: AbortSignal; settled: () => void } {
  const ends = new AbortController();
  const end = () => ends.abort();
  if (res.destroyed || (res as { waitEnded?: boolean }).waitEnded) end();
  res.once('close', end);
  res.once('endwait', end);
  // Once the pop is over nothing listens: an abort then would only build an AbortError (a stack trace) per answer.
  const settled = () => {
    res.off('close', end);
    res.off('endwait', end);
  };
  return { signal: ends.signal, settled };
}

/** Resolves to FOUND or NO_NEW_MSG (the pop histogram's result label). */
export function popMessageProcessor(ctx: BrokerServerContext): (req: IncomingMessage, res: ServerResponse) => Promise<string> {
  return async (req, res) => {
    const request = validatePopRequest(await body(req));
    const ends = request.waitMs > 0 ? waitEnds(res) : undefined;
    const got = await popService(ctx)
      .pop(request, ends?.signal)
      .finally(() => ends?.settled());
    // The client left: nobody to answer (what it leased, if anything, comes back after its invisibility).
    if (res.destroyed) return got.messages.length > 0 ? 'FOUND' : 'NO_NEW_MSG';
    const parts = popResultParts({ messages: got.messages }, got.records);
    let length = 0;
    for (const p of parts) length += p.length;
    // Corked: the head, the meta and every record go out in one writev, the records uncopied.
    res.cork();
    res.writeHead(200, { 'content-type': ContentTypes.POP_RESULT, 'content-length': length });
    for (const p of parts) res.write(p);
    res.end();
    res.uncork();
    return got.messages.length > 0 ? 'FOUND' : 'NO_NEW_MSG';
  };
}

export function ackMessageProcessor(ctx: BrokerServerContext): (req: IncomingMessage, res: ServerResponse) => Promise<undefined> {
  return async (req, res) => {
    const request = validateAckRequest(await body(req));
    const answer = await popService(ctx).ack(request);
    // The usual answer, every entry OK, is written without serializing an object per entry.
    if (allOk(answer.results)) sendJsonText(res, 200, allOkAnswerJson(answer.results.length));
    else sendJson(res, 200, answer);
    return undefined;
  };
}

export function changeInvisibleTimeProcessor(ctx: BrokerServerContext): Handler {
  return async (req, res) => {
    const request = validateChangeInvisibilityRequest(await body(req));
    sendJson(res, 200, await popService(ctx).changeInvisibility(request));
  };
}

export function consumerProgressProcessor(ctx: BrokerServerContext): Handler {
  return async (_req, res, query) => {
    const params = new URLSearchParams(query);
    const topic = validateTopic(params.get('topic') ?? '');
    const group = validateGroup(params.get('group') ?? '');
    sendJson(res, 200, await popService(ctx).progress(topic, group));
  };
}

export function commitOffsetProcessor(ctx: BrokerServerContext): Handler {
  return async (req, res) => {
    const request = validateCommitOffsetRequest(await body(req));
    sendJson(res, 200, await popService(ctx).commitOffset(request));
  };
}

export function resetOffsetProcessor(ctx: BrokerServerContext): Handler {
  return async (req, res) => {
    const request = validateResetOffsetRequest(await body(req));
    sendJson(res, 200, await popService(ctx).resetOffset(request));
  };
}
