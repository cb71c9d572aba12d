/** Produce and read over HTTP. Sends go through the embedded direct-to-broker Producer. */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { buildSubscriptionData, CirrusError, Limits, type MessageExt, parseNonNegativeInt } from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import { queryParam } from '../api/check';
import { jsonText } from '../api/json-text';
import { intQuery, TopicParams } from '../api/params';
import { AcceptedSchema, failure, json, ReadResultSchema, SendResultsSchema, topicSchemaDoc } from '../api/schemas';
import { SendRequestSchema } from '../api/send-request-schema';
import { readableBrokerAddr } from '../broker-route';
import type { GatewayDeps } from '../deps';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BASE64_CHARS, MAX_READ_ANSWER_BYTES, MAX_SEND_REQUEST_BYTES } from '../limits';
import { JSON_HEADERS } from '../http-answer';
import { messageToJson } from '../message-json';
import { capMessages, MESSAGES_BUDGET } from '../read-answer';
import { sendMessages } from '../send-messages';

const DEFAULT_READ_MAX = 32;

/** Documented here; parsed by hand (see send-request-schema.ts), so registered without zod validation. */
const sendMessagesRoute = createRoute({
  method: 'post',
  path: '/v1/topics/{topic}/messages',
  operationId: 'sendMessages',
  tags: ['messages'],
  summary: 'Send messages',
  description:
    `Up to ${Limits.MAX_BATCH_MESSAGES} messages a request. Sizes: a request body of at most ${MAX_SEND_REQUEST_BYTES} bytes (5.5 MiB: room for base64 of a ${Limits.MAX_BODY_BYTES}-byte body, ${MAX_BODY_BASE64_CHARS} characters, plus JSON; under API Gateway HTTP API's 10 MB and Lambda's ${LAMBDA_PAYLOAD_BYTES}-byte request payload); each body at most ${Limits.MAX_BODY_BYTES} bytes (4 MiB) DECODED; the batch must fit one broker request (${Limits.MAX_SEND_REQUEST_BYTES} bytes of encoded records, bodies over 4 KiB counted deflated). ` +
    'Text (bodies with bodyEncoding "utf8", tags, keys, properties, shardingKey) must be valid Unicode: a lone surrogate or request bytes that are not UTF-8 answer 400 INVALID_TEXT; send binary bodies as bodyEncoding "base64". ' +
    "Behind API Gateway, the request travels in a Lambda event as a JSON string: a text body heavy in quotes, backslashes or control characters weighs more there (each gains a backslash) and may exceed Lambda's limit before this one; base64 does not grow. " +
    'Messages without a shardingKey go to one queue chosen round-robin; messages with one go to the queue its hash picks, in order.',
  request: {
    params: z.object({
      topic: z.string().openapi({ ...topicSchemaDoc, description: 'Not a reserved topic (%RETRY%, %DLQ%, rmq_sys_)', param: { name: 'topic', in: 'path' } }),
    }),
    query: z.object({
      mode: z
        .enum(['sync', 'oneway'])
        .optional()
        .openapi({ default: 'sync', param: { name: 'mode', in: 'query' } }),
    }),
    body: { required: true, content: { 'application/json': { schema: SendRequestSchema } } },
  },
  responses: {
    200: json(SendResultsSchema, 'One result per message, in order'),
    202: json(
      AcceptedSchema,
      'mode=oneway: checked and routed (an unknown topic is a 404, no live broker a 503, as for sync), then sent without waiting; failures after the 202 are logged and counted in /metrics (cirrusmq_gateway_oneway_messages_failed_total)',
    ),
    400: failure(
      'INVALID_JSON, INVALID_TEXT (not valid Unicode / UTF-8), BAD_REQUEST (not an object), INVALID_MESSAGE, EMPTY_BATCH, TOO_MANY_MESSAGES, INVALID_TOPIC, RESERVED_TOPIC, INVALID_PARAMETER (mode)',
    ),
    404: failure('TOPIC_NOT_FOUND (also for mode=oneway)'),
    413: failure(
      `PAYLOAD_TOO_LARGE: a request over ${MAX_SEND_REQUEST_BYTES} bytes, a body over ${Limits.MAX_BODY_BYTES} bytes decoded, or a batch over one broker request`,
    ),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
    503: failure('NO_ROUTE: no live broker serves the topic (retriable)'),
  },
});

const readMessagesRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/messages',
  operationId: 'readMessages',
  tags: ['messages'],
  summary: 'Read a queue from an offset',
  description: `An answer weighs at most ${MAX_READ_ANSWER_BYTES} bytes counted as a Lambda result (its JSON, plus a byte per '"' and '\\'), to fit Lambda's ${LAMBDA_PAYLOAD_BYTES}-byte response: it may hold fewer than max messages, with nextOffset at the first one left out, so read on from nextOffset. One message always fits; a text body that would escape too large comes as base64.`,
  request: {
    params: TopicParams,
    query: z.object({
      broker: queryParam((raw) => {
        if (!raw) throw new CirrusError('INVALID_PARAMETER', 'broker is required');
        return raw;
      }).openapi({ type: 'string', param: { name: 'broker', in: 'query', required: true } }),
      queueId: intQuery('queueId'),
      offset: intQuery('offset', { default: 0 }),
      max: queryParam((raw) => {
        const max = parseNonNegativeInt('max', raw, DEFAULT_READ_MAX);
        if (max < 1 || max > Limits.MAX_READ_BATCH) throw new CirrusError('INVALID_PARAMETER', `max must be from 1 to ${Limits.MAX_READ_BATCH}`);
        return max;
      }).openapi({ type: 'integer', minimum: 1, maximum: Limits.MAX_READ_BATCH, default: DEFAULT_READ_MAX, param: { name: 'max', in: 'query' } }),
      // Checked here, so a bad expression is a 400 without a route lookup or a broker call.
      tag: queryParam((raw) => buildSubscriptionData(raw).subString).openapi({
        type: 'string',
        default: '*',
        maxLength: 4096,
        description:
          'Subscription expression: "*" (default) for all, or tags joined by "||" ("TagA || TagB"). Messages of other tags are skipped and still advance nextOffset, so an answer may hold no message while nextOffset moves on: read on until nextOffset reaches maxOffset.',
        param: { name: 'tag', in: 'query' },
      }),
    }),
  },
  responses: {
    200: json(ReadResultSchema),
    400: failure('INVALID_TOPIC, INVALID_PARAMETER (bad broker, queueId, offset, max or tag expression)'),
    404: failure(
      'TOPIC_NOT_FOUND, BROKER_NOT_FOUND, QUEUE_NOT_FOUND; OFFSET_BELOW_MINIMUM: the offset was deleted by retention, error.details.minOffset is where the queue starts now',
    ),
    503: failure('BROKER_UNAVAILABLE'),
  },
});

export function messageRoutes(app: OpenAPIHono, deps: GatewayDeps): void {
  const { routes, brokers } = deps;
  app.openAPIRegistry.registerPath(sendMessagesRoute);
  app.post('/v1/topics/:topic/messages', async (c) => {
    const { status, body } = await sendMessages(deps, c.req.param('topic'), c.req.query('mode'), (max) => readJsonObject(c, max));
    return c.body(body, status, JSON_HEADERS);
  });

  app.openapi(readMessagesRoute, async (c) => {
    const { topic } = c.req.valid('param');
    const { broker, queueId, offset, max, tag } = c.req.valid('query');
    const addr = await readableBrokerAddr(routes, topic, broker, queueId);
    const res = await brokers.get(addr).pull(topic, queueId, offset, max, tag);
    // Capped to fit a Lambda result: the messages left out are read from nextOffset.
    const parts = capMessages(res.messages, encodeMessage, MESSAGES_BUDGET);
    const nextOffset = parts.length < res.messages.length ? res.messages[parts.length]!.queueOffset : res.nextOffset;
    return jsonText(c, `{"messages":[${parts.join(',')}],"nextOffset":${nextOffset},"minOffset":${res.minOffset},"maxOffset":${res.maxOffset}}`);
  });
}

const encodeMessage = (m: MessageExt, base64: boolean) => JSON.stringify(messageToJson(m, base64));
