/** Produce and read over HTTP. Sends go through the embedded direct-to-broker Producer. */
import type { Hono } from 'hono';
import { MASTER_ID } from '../../../../client/src/api/types';
import { CirrusError } from '../../../../client/src/errors';
import { buildSubscriptionData } from '../../../../client/src/filter/subscription-data';
import { Limits, parseNonNegativeInt, validateTopic, validateUserTopic } from '../../../../client/src/validation';
import { readJsonObject } from '../../../shared/http';
import type { GatewayDeps } from '../deps';
import { messageToJson, parseMessages, resultsJson } from '../message-json';

const DEFAULT_READ_MAX = 32;

export function messageRoutes(app: Hono, { producer, brokers, logger, metrics }: GatewayDeps): void {
  app.post('/v1/topics/:topic/messages', async (c) => {
    const topic = validateUserTopic(c.req.param('topic'));
    const mode = c.req.query('mode') ?? 'sync';
    if (mode !== 'sync' && mode !== 'oneway') throw new CirrusError('INVALID_PARAMETER', 'mode must be "sync" or "oneway"');
    const body = await readJsonObject(c, Limits.MAX_BATCH_BYTES);
    const batch = producer.prepareBatch(topic, parseMessages(topic, body.messages));
    if (mode === 'oneway') {
      producer.sendPrepared(batch).catch((e) => logger.warn('oneway send failed', { topic, err: e }));
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
    for (const o of outcomes) o.status === 'FAILED' ? metrics.messagesFailed++ : metrics.messagesSent++;
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
    return c.json({ messages: res.messages.map(messageToJson), nextOffset: res.nextOffset, minOffset: res.minOffset, maxOffset: res.maxOffset });
  });
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
