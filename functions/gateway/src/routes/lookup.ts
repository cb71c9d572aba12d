/**
 * Lookups over every broker that may hold the message, through each broker's key index:
 *
 *   GET /v1/topics/{topic}/messages/by-key/{key}?begin=&end=&max=
 *       asks every broker in the topic's route, merges, sorts by storeTimestamp and keeps
 *       the newest `max` (oldest first in the answer)
 *   GET /v1/messages/{messageId}
 *       the id has no topic, so every live broker of the NameServer's cluster list is asked;
 *       404 MESSAGE_NOT_FOUND when none has it
 *
 * Messages are JSON as the read route writes them, with topic, broker and queueId added.
 * A broker that fails is left out and named in "unreachableBrokers"; when every broker
 * fails, the first failure is the answer.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { CirrusError, Limits, type MessageExt, parseLookupRange, toCirrusError } from '@cirrusmq/client/protocol';
import { type JsonText, jsonText } from '../api/json-text';
import { lookupKeyParam, topicParam } from '../api/params';
import { failure, json, LookupResultSchema } from '../api/schemas';
import { type BrokerTarget, topicMasters } from '../broker-route';
import type { GatewayDeps } from '../deps';
import { MAX_READ_ANSWER_BYTES } from '../limits';
import { messageToJson } from '../message-json';
import { capMessages, MESSAGES_BUDGET } from '../read-answer';

interface Found {
  broker: string;
  message: MessageExt;
}

/** A time in ms as a query parameter; checked with the range by parseLookupRange. */
const timeQuery = (name: string, description: string) =>
  z
    .string()
    .optional()
    .openapi({ type: 'integer', minimum: 0, description, param: { name, in: 'query' } });

const lookupByKeyRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/messages/by-key/{key}',
  operationId: 'lookupMessagesByKey',
  tags: ['lookup'],
  summary: 'Look up messages by key',
  description: `Asks every broker of the topic through its key index. Answers the newest \`max\` matches stored within [begin, end], oldest first. Capped as reads are (${MAX_READ_ANSWER_BYTES} bytes): the oldest matches are left out first and "truncated" is true; ask again with end = the oldest storeTimestamp answered (messages of that millisecond come again).`,
  request: {
    params: z.object({ topic: topicParam, key: lookupKeyParam('key', 'One of the keys the messages were sent with (percent-encode "/", "#", "?")') }),
    query: z.object({
      begin: timeQuery('begin', 'Earliest storeTimestamp, ms since the epoch (default 0)'),
      end: timeQuery('end', 'Latest storeTimestamp, ms since the epoch (default: no limit)'),
      max: z
        .string()
        .optional()
        .openapi({ type: 'integer', minimum: 1, maximum: Limits.MAX_READ_BATCH, default: 32, param: { name: 'max', in: 'query' } }),
    }),
  },
  responses: {
    200: json(LookupResultSchema),
    400: failure('INVALID_TOPIC, INVALID_PARAMETER, INVALID_TEXT'),
    404: failure('TOPIC_NOT_FOUND'),
    503: failure('NO_ROUTE, BROKER_UNAVAILABLE (every broker failed)'),
  },
});

const lookupByIdRoute = createRoute({
  method: 'get',
  path: '/v1/messages/{messageId}',
  operationId: 'lookupMessageById',
  tags: ['lookup'],
  summary: 'Look up a message by id',
  description:
    'Asks every live broker through its index. Usually one message; more when a retried send stored it twice (at-least-once). Capped as reads are ("truncated": true when copies were left out).',
  request: { params: z.object({ messageId: lookupKeyParam('messageId', 'The messageId a send answered (UNIQ_KEY)') }) },
  responses: {
    200: json(LookupResultSchema),
    400: failure('INVALID_PARAMETER, INVALID_TEXT'),
    404: failure('MESSAGE_NOT_FOUND: no broker holds it'),
    503: failure('NO_LIVE_BROKER; BROKER_UNAVAILABLE: not on the brokers that answered, and some did not'),
  },
});

export function lookupRoutes(app: OpenAPIHono, { routes, nameServer, brokers, logger }: GatewayDeps): void {
  app.openapi(lookupByKeyRoute, async (c) => {
    const { topic, key } = c.req.valid('param');
    const { begin, end, max } = parseLookupRange(c.req.valid('query'));
    const targets = topicMasters(await routes.get(topic));
    if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
    const { found, unreachable } = await askAll(targets, (b) => brokers.get(b.addr).queryMessage(topic, key, { begin, end, max }), logger);
    found.sort((a, b) => a.message.storeTimestamp - b.message.storeTimestamp || a.message.commitLogOffset - b.message.commitLogOffset);
    // Newest first into the capped answer, so a cut drops the oldest; answered oldest first.
    return answer(c, found.slice(Math.max(0, found.length - max)).reverse(), unreachable, true);
  });

  app.openapi(lookupByIdRoute, async (c) => {
    const { messageId } = c.req.valid('param');
    const seen = new Set<string>();
    const targets: BrokerTarget[] = [];
    for (const b of await nameServer.getCluster()) {
      if (!b.alive || seen.has(b.addr)) continue;
      seen.add(b.addr);
      targets.push({ brokerName: b.brokerName, addr: b.addr });
    }
    if (targets.length === 0) throw new CirrusError('NO_LIVE_BROKER', 'no live broker to ask');
    const { found, unreachable } = await askAll(targets, (b) => brokers.get(b.addr).viewMessage(messageId), logger);
    if (found.length === 0 && unreachable.length === 0) throw new CirrusError('MESSAGE_NOT_FOUND', `no broker holds message ${messageId}`);
    if (found.length === 0) {
      throw new CirrusError('BROKER_UNAVAILABLE', `message ${messageId} is on no broker that answered; unreachable: ${unreachable.join(', ')}`);
    }
    found.sort((a, b) => a.message.storeTimestamp - b.message.storeTimestamp);
    return answer(c, found.slice(0, Limits.MAX_READ_BATCH), unreachable, false);
  });
}

/** Asks every broker at once; failures are collected, and thrown only when all failed. */
async function askAll(
  targets: BrokerTarget[],
  ask: (b: BrokerTarget) => Promise<MessageExt[]>,
  logger: GatewayDeps['logger'],
): Promise<{ found: Found[]; unreachable: string[] }> {
  const settled = await Promise.allSettled(targets.map(ask));
  const found: Found[] = [];
  const unreachable: string[] = [];
  let firstError: CirrusError | undefined;
  settled.forEach((s, i) => {
    const broker = targets[i]!.brokerName;
    if (s.status === 'fulfilled') {
      for (const message of s.value) found.push({ broker, message });
    } else {
      const err = toCirrusError(s.reason);
      // A caller error (a bad parameter) is the same on every broker: answer it.
      if (err.status < 500) throw err;
      firstError ??= err;
      unreachable.push(broker);
      logger.warn('lookup: broker failed', { broker, err });
    }
  });
  if (found.length === 0 && firstError && unreachable.length === targets.length) throw firstError;
  return { found, unreachable };
}

/**
 * The answer, capped to fit a Lambda result (read-answer.ts): `found` in order of preference,
 * answered oldest first (`reversed`: `found` is newest first). When messages were left out,
 * "truncated" is true: a by-key lookup continues with end = the oldest storeTimestamp answered.
 */
function answer(c: Context, found: Found[], unreachable: string[], reversed: boolean): JsonText {
  const encode = (f: Found, base64: boolean) =>
    JSON.stringify({ ...messageToJson(f.message, base64), topic: f.message.topic, broker: f.broker, queueId: f.message.queueId });
  const kept = capMessages(found, encode, MESSAGES_BUDGET);
  if (reversed) kept.reverse();
  let text = `{"messages":[${kept.join(',')}]`;
  if (unreachable.length > 0) text += `,"unreachableBrokers":${JSON.stringify(unreachable)}`;
  if (kept.length < found.length) text += ',"truncated":true';
  return jsonText(c, text + '}');
}
