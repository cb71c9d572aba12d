/**
 * POST /v1/topics/{topic}/messages: checks, the send through the embedded Producer, the
 * answer's bytes and the counters. Served by the Hono route (routes/messages.ts) and by the
 * process server's hot-route listener (hot-routes.ts).
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { PreparedBatch } from '@cirrusmq/client';
import type { GatewayDeps } from './deps';
import type { BodyReader, HttpAnswer } from './http-answer';
import { MAX_SEND_REQUEST_BYTES } from './limits';
import { parseMessages, resultsJson } from './message-json';
import { markTransactional, transactionResultsJson } from './routes/transactions';

/** `mode` is the query parameter as read (undefined when absent). */
export async function sendMessages(deps: GatewayDeps, topic: string, mode: string | undefined, readBody: BodyReader): Promise<HttpAnswer> {
  const { producer, metrics } = deps;
  mode ??= 'sync';
  if (mode !== 'sync' && mode !== 'oneway') throw new CirrusError('INVALID_PARAMETER', 'mode must be "sync" or "oneway"');
  const body = await readBody(MAX_SEND_REQUEST_BYTES);
  // The topic's one check is the producer's (prepareBatch), before any message is prepared.
  const batch = producer.prepareBatch(topic, parseMessages(topic, body.messages));
  // Half messages (routes/transactions.ts): marked here, answered with their transaction ids below.
  const transactional = markTransactional(batch, body, mode);
  if (mode === 'oneway') {
    // The route first (the shared route cache; the NameServer on a miss): an unknown topic or
    // one without a live broker is the caller's answer (404 / 503), not a silent drop.
    metrics.sendRequests++;
    try {
      await producer.resolveRoute(topic);
    } catch (e) {
      metrics.messagesFailed += batch.prepared.length;
      throw e;
    }
    sendOneway(deps, batch);
    return { status: 202, body: `{"accepted":${batch.prepared.length}}` };
  }
  metrics.sendRequests++;
  let outcomes;
  try {
    outcomes = await producer.sendPrepared(batch);
  } catch (e) {
    metrics.messagesFailed += batch.prepared.length;
    throw e;
  }
  metrics.recordOutcomes(batch, outcomes);
  return { status: 200, body: transactional ? transactionResultsJson(outcomes) : resultsJson(outcomes) };
}

/**
 * Sends after the 202: counted as the sync path counts (requests, messages sent and failed)
 * and in the oneway counters; a failure is logged, since no caller hears of it.
 */
function sendOneway({ producer, metrics, logger }: GatewayDeps, batch: PreparedBatch): void {
  const n = batch.prepared.length;
  metrics.onewayRequests++;
  metrics.onewayMessagesAccepted += n;
  producer.sendPrepared(batch).then(
    (outcomes) => {
      const failed = metrics.recordOutcomes(batch, outcomes);
      if (failed > 0) {
        metrics.onewayMessagesFailed += failed;
        const first = outcomes.find((o) => o.status === 'FAILED');
        logger.warn('oneway send failed', { topic: batch.topic, failed, of: n, code: first?.status === 'FAILED' ? first.error.code : undefined });
      }
    },
    (e: unknown) => {
      metrics.messagesFailed += n;
      metrics.onewayMessagesFailed += n;
      logger.warn('oneway send failed', { topic: batch.topic, failed: n, of: n, err: e });
    },
  );
}
