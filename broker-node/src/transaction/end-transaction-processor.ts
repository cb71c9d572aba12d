/**
 * The broker's transaction routes (RocketMQ's EndTransactionProcessor, and the check channel
 * its producers would be called back on):
 *
 *   POST /v1/transaction/end?messageId={id}&resolution=COMMIT|ROLLBACK
 *        200 {transactionId, messageId, resolution, topic, queueId, queueOffset?}
 *        404 TRANSACTION_NOT_FOUND, 409 TRANSACTION_ALREADY_ENDED
 *   POST /v1/transaction/end   body {"ends": [{messageId, resolution}, ...], "answer"?: "failures"}
 *        200 {results: [...]}: each an answer as above or {error: {code, message, details?}};
 *        with "answer": "failures" (the SDK's), {failures: [{index, error}]}: the failed ends only
 *   GET  /v1/transaction/checks?producerGroup={g}&waitMs={ms}&max={n}
 *        long poll: 200 {checks: [...]} once checks are due for the group, or empty after waitMs
 *   POST /v1/transaction/producer-group?group={g}   body {"checkUrl": "http(s)://..." | null}
 *        200 {group, checkUrl}: the URL this broker POSTs each check of the group to
 *   GET  /v1/transaction/producer-groups
 *        200 {groups: [{group, checkUrl}]}: every group registered here (what a peer adopts)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, parseJson, validateGroup } from '@cirrusmq/client/protocol';
import type { BrokerServerContext } from '../server/context';
import { readBody, sendJson } from '../server/http-util';

export const TRANSACTION_END_PATH = '/v1/transaction/end';
export const TRANSACTION_CHECKS_PATH = '/v1/transaction/checks';
export const PRODUCER_GROUP_PATH = '/v1/transaction/producer-group';
export const PRODUCER_GROUPS_PATH = '/v1/transaction/producer-groups';

const MESSAGE_ID = /^[0-9A-Fa-f]{1,64}$/;
/** A long poll waits at most this long (under the gateway's and clients' request timeouts). */
export const MAX_CHECK_WAIT_MS = 30_000;

function service(ctx: BrokerServerContext) {
  if (!ctx.transactions) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} keeps no transactions`);
  return ctx.transactions;
}

export function endTransactionProcessor(ctx: BrokerServerContext) {
  return async (req: IncomingMessage, res: ServerResponse, query: string): Promise<void> => {
    const tx = service(ctx);
    const params = new URLSearchParams(query);
    if (!params.has('messageId')) {
      // A batch (the SDK merges the ends waiting while one is in flight): one answer per end, in order.
      const body = parseJson(await readBody(req, 256 * 1024)) as { ends?: unknown; answer?: unknown } | undefined;
      const ends = body?.ends;
      if (!Array.isArray(ends) || ends.length === 0 || ends.length > MAX_ENDS) {
        throw new CirrusError('INVALID_PARAMETER', `a batch end is {"ends": [{messageId, resolution}, ...]} of 1 to ${MAX_ENDS}`);
      }
      const checked = ends.map((e) => checkEnd((e as { messageId?: unknown })?.messageId, (e as { resolution?: unknown })?.resolution));
      if (body?.answer === 'failures') {
        // The usual answer of a merged commit is "all done": a few bytes, not a result per end.
        const failures: { index: number; error: ReturnType<typeof errorBody> }[] = [];
        await Promise.all(
          checked.map((e, index) => tx.end(e.messageId, e.resolution).catch((err: unknown) => failures.push({ index, error: errorBody(err) }))),
        );
        sendJson(res, 200, { failures: failures.sort((a, b) => a.index - b.index) });
        return;
      }
      const results = await Promise.all(checked.map((e) => tx.end(e.messageId, e.resolution).catch((err: unknown) => ({ error: errorBody(err) }))));
      sendJson(res, 200, { results });
      return;
    }
    const { messageId, resolution } = checkEnd(params.get('messageId'), params.get('resolution'));
    sendJson(res, 200, await tx.end(messageId, resolution));
  };
}

const MAX_ENDS = 1000;

function errorBody(err: unknown): { code: string; message: string; details?: CirrusError['details'] } {
  const c = err instanceof CirrusError ? err : new CirrusError('INTERNAL', 'internal error');
  return { code: c.code, message: c.message, details: c.details };
}

function checkEnd(messageId: unknown, resolution: unknown): { messageId: string; resolution: 'COMMIT' | 'ROLLBACK' } {
  if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId)) throw new CirrusError('INVALID_PARAMETER', 'messageId must be a message id (hex)');
  const r = typeof resolution === 'string' ? resolution.toUpperCase() : '';
  if (r !== 'COMMIT' && r !== 'ROLLBACK') throw new CirrusError('INVALID_PARAMETER', 'resolution must be COMMIT or ROLLBACK');
  return { messageId, resolution: r };
}

export function transactionChecksProcessor(ctx: BrokerServerContext) {
  return async (_req: IncomingMessage, res: ServerResponse, query: string): Promise<void> => {
    const tx = service(ctx);
    const params = new URLSearchParams(query);
    const group = validateGroup(params.get('producerGroup') ?? '');
    const waitMs = intParam(params, 'waitMs', 0, 0, MAX_CHECK_WAIT_MS);
    const max = intParam(params, 'max', 32, 1, 1000);
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const checks = await tx.takeChecks(group, waitMs, max, gone.signal);
    if (!res.destroyed) sendJson(res, 200, { checks });
  };
}

export function producerGroupProcessor(ctx: BrokerServerContext) {
  return async (req: IncomingMessage, res: ServerResponse, query: string): Promise<void> => {
    const tx = service(ctx);
    const group = validateGroup(new URLSearchParams(query).get('group') ?? '');
    const body = parseJson(await readBody(req, 64 * 1024)) as { checkUrl?: unknown } | undefined;
    const checkUrl = validateCheckUrl(body?.checkUrl);
    await tx.registerGroup(group, checkUrl);
    sendJson(res, 200, { group, checkUrl });
  };
}

export function producerGroupsProcessor(ctx: BrokerServerContext) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    sendJson(res, 200, { groups: service(ctx).producerGroups() });
  };
}

/** http(s) URL of at most 2048 characters, or null to clear. */
export function validateCheckUrl(raw: unknown): string | null {
  if (raw === null) return null;
  if (typeof raw !== 'string' || raw.length > 2048) throw new CirrusError('INVALID_PARAMETER', 'checkUrl must be an http(s) URL or null');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CirrusError('INVALID_PARAMETER', 'checkUrl must be an http(s) URL or null');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CirrusError('INVALID_PARAMETER', 'checkUrl must be an http(s) URL or null');
  return raw;
}

function intParam(params: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || n < min || n > max) throw new CirrusError('INVALID_PARAMETER', `${name} must be an integer from ${min} to ${max}`);
  return n;
}
