/** Produce and read over HTTP. Sends go through the embedded direct-to-broker Producer. */
import type { Hono } from 'hono';
import { buildSubscriptionData, CirrusError, Limits, MASTER_ID, type MessageExt, parseNonNegativeInt, validateTopic, validateUserTopic } from '@cirrusmq/client/protocol';
import type { PreparedBatch } from '@cirrusmq/client';
import { readJsonObject } from '../../../shared/http';
import type { GatewayDeps } from '../deps';
import { MAX_SEND_REQUEST_BYTES } from '../limits';
import { messageToJson, parseMessages, resultsJson } from '../message-json';
import { capMessages, MESSAGES_BUDGET } from '../read-answer';

const DEFAULT_READ_MAX = 32;

export function messageRoutes(app: Hono, deps: GatewayDeps): void {
  const { producer, brokers, metrics } = deps;
  app.post('/v1/topics/:topic/messages', async (c) => {
    const topic = validateUserTopic(c.req.param('topic'));
    const mode = c.req.query('mode') ?? 'sync';
    if (mode !== 'sync' && mode !== 'oneway') throw new CirrusError('INVALID_PARAMETER', 'mode must be "sync" or "oneway"');
    const body = await readJsonObject(c, MAX_SEND_REQUEST_BYTES);
    const batch = producer.prepareBatch(topic, parseMessages(topic, body.messages));
    if (mode === 'oneway') {
      // The route first (the producer's cache; the NameServer on a miss): an unknown topic or
      // one without a live broker is the caller's answer (404 / 503), not a silent drop.
      metrics.sendRequests++;
      try {
        await producer.resolveRoute(topic);
      } catch (e) {
        metrics.messagesFailed += batch.prepared.length;
        throw e;
      }
      sendOneway(deps, batch);
      return c.json({ accepted: batch.prepared.length }, 202);
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
    return c.body(resultsJson(outcomes), 200, { 'Content-Type': 'application/json' });
  });

  app.get('/v1/topics/:topic/messages', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    const brokerName = c.req.query('broker');
    if (!brokerName) throw new CirrusError('INVALID_PARAMETER', 'broker is required');
    const queueId = parseNonNegativeInt('queueId', c.req.query('queueId'));
    const offset = parseNonNegativeInt('offset', c.req.query('offset'), 0);
    const max = parseNonNegativeInt('max', c.req.query('max'), DEFAULT_READ_MAX);
    if (max < 1 || max > Limits.MAX_READ_BATCH) throw new CirrusError('INVALID_PARAMETER', `max must be from 1 to ${Limits.MAX_READ_BATCH}`);
    // Checked here too, so a bad expression is a 400 without a route lookup or a broker call.
    const tag = buildSubscriptionData(c.req.query('tag')).subString;

    const addr = await readableBrokerAddr(producer, topic, brokerName, queueId);
    const res = await brokers.get(addr).pull(topic, queueId, offset, max, tag);
    // Capped to fit a Lambda result: the messages left out are read from nextOffset.
    const parts = capMessages(res.messages, encodeMessage, MESSAGES_BUDGET);
    const nextOffset = parts.length < res.messages.length ? res.messages[parts.length]!.queueOffset : res.nextOffset;
    const text = `{"messages":[${parts.join(',')}],"nextOffset":${nextOffset},"minOffset":${res.minOffset},"maxOffset":${res.maxOffset}}`;
    return c.body(text, 200, { 'Content-Type': 'application/json' });
  });
}

const encodeMessage = (m: MessageExt, base64: boolean) => JSON.stringify(messageToJson(m, base64));

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

/** The broker's address from the cached route, refreshed once if the broker or queue is not in it. */
async function readableBrokerAddr(producer: GatewayDeps['producer'], topic: string, brokerName: string, queueId: number): Promise<string> {
  const find = (route: Awaited<ReturnType<typeof producer.routes.get>>['route']) => {
    const qd = route.queueDatas.find((q) => q.brokerName === brokerName);
    const addr = route.brokerDatas.find((b) => b.brokerName === brokerName)?.brokerAddrs[String(MASTER_ID)];
    return { qd, addr };
  };
  let { qd, addr } = find((await producer.routes.get(topic)).route);
  if (!qd || !addr || queueId >= qd.readQueueNums) ({ qd, addr } = find((await producer.routes.refresh(topic)).route));
  if (!qd) throw new CirrusError('BROKER_NOT_FOUND', `broker ${brokerName} does not serve topic ${topic}`);
  if (queueId >= qd.readQueueNums) throw new CirrusError('QUEUE_NOT_FOUND', `topic ${topic} has ${qd.readQueueNums} queues on ${brokerName}`);
  if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `broker ${brokerName} is not alive`);
  return addr;
}
