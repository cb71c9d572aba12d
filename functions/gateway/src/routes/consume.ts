/**
 * The consume API (DESIGN.md "The consume API"): POP receive across the topic's brokers, ack
 * and change-invisibility routed by the broker a receipt handle names, a group's progress,
 * offsets and reset, and the dead-letter redrive. The brokers own offsets and leases; the
 * gateway keeps nothing between requests.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CirrusError, type ConsumerProgress, POP_PARTS_TYPE } from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import { parseWith } from '../api/check';
import {
  AckRequestSchema,
  AckResultsSchema,
  ChangeInvisibilityRequestSchema,
  ChangeInvisibilityResultsSchema,
  CommitOffsetRequestSchema,
  GroupProgressSchema,
  ReceivePopPartsSchema,
  ReceiveRequestSchema,
  ReceiveResultSchema,
  RedriveRequestSchema,
  RedriveResultSchema,
  ResetRequestSchema,
  TopicGroupParams,
} from '../api/consume-schemas';
import { GroupParams } from '../api/params';
import { failure, json } from '../api/schemas';
import { readableBrokerAddr, topicMasters } from '../broker-route';
import { consumeCalls } from '../consume-calls';
import type { GatewayDeps } from '../deps';
import { redriveDeadLetters } from '../dlq-redrive';
import { JSON_HEADERS } from '../http-answer';

const BASE = '/v1/topics/{topic}/groups/{group}';
const body = <T>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });
const BAD_PARAMS = 'INVALID_JSON, BAD_REQUEST (not an object), INVALID_TOPIC, INVALID_GROUP (invalid or reserved prefix), INVALID_PARAMETER';

const receiveRoute = createRoute({
  method: 'post',
  path: `${BASE}/receive`,
  operationId: 'receiveMessages',
  tags: ['consume'],
  summary: 'Receive messages (POP): each is leased to the caller, invisible to the group until acked or its invisibility ends',
  description:
    "A group is created with the defaults on its first receive. The topic's brokers are asked in turn until max is filled; when none has a message and waitSeconds > 0, the receive waits (long polling) and answers as soon as a message arrives. An answer holds at most what fits a Lambda result; messages leased but not answered are released at once. A message not acked before its invisibility ends is delivered again with deliveryAttempt + 1; after the group's retryMaxTimes + 1 deliveries it goes to %DLQ%{group}.",
  request: { params: TopicGroupParams, body: body(ReceiveRequestSchema) },
  responses: {
    200: {
      description: `OK. JSON by default; as ${POP_PARTS_TYPE} (binary, the brokers' records) when the Accept header lists that type`,
      content: { 'application/json': { schema: ReceiveResultSchema }, [POP_PARTS_TYPE]: { schema: ReceivePopPartsSchema } },
    },
    400: failure(`${BAD_PARAMS} (max 1-32, invisibleSeconds 1-43200, waitSeconds 0-20, filter)`),
    404: failure('TOPIC_NOT_FOUND'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
    503: failure('NO_ROUTE, BROKER_UNAVAILABLE: no broker of the topic answered'),
  },
});

const ackRoute = createRoute({
  method: 'post',
  path: `${BASE}/ack`,
  operationId: 'ackMessages',
  tags: ['consume'],
  summary: 'Acknowledge received messages: their leases end and they are not delivered to the group again',
  request: { params: TopicGroupParams, body: body(AckRequestSchema) },
  responses: {
    200: json(
      AckResultsSchema,
      'One result per handle, in order; per entry INVALID_RECEIPT_HANDLE (malformed, edited or forged) or RECEIPT_HANDLE_EXPIRED (its lease ended)',
    ),
    400: failure(`${BAD_PARAMS} (1 to 100 receipt handles)`),
    404: failure('TOPIC_NOT_FOUND'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
  },
});

const changeInvisibilityRoute = createRoute({
  method: 'post',
  path: `${BASE}/change-invisibility`,
  operationId: 'changeInvisibility',
  tags: ['consume'],
  summary: "Move leases' invisibility to now + invisibleSeconds; each OK answers a new receipt handle",
  request: { params: TopicGroupParams, body: body(ChangeInvisibilityRequestSchema) },
  responses: {
    200: json(ChangeInvisibilityResultsSchema, 'One result per entry, in order; per entry INVALID_RECEIPT_HANDLE or RECEIPT_HANDLE_EXPIRED'),
    400: failure(`${BAD_PARAMS} (1 to 100 entries, invisibleSeconds 1-43200)`),
    404: failure('TOPIC_NOT_FOUND'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
  },
});

const describeRoute = createRoute({
  method: 'get',
  path: BASE,
  operationId: 'describeGroupProgress',
  tags: ['consume'],
  summary: "The group's progress on the topic: per queue max, committed offset, in flight and lag; totals; retried and dead-lettered counts",
  request: { params: TopicGroupParams },
  responses: {
    200: json(GroupProgressSchema),
    400: failure('INVALID_TOPIC, INVALID_GROUP'),
    404: failure('TOPIC_NOT_FOUND, GROUP_NOT_FOUND'),
    503: failure('NO_ROUTE, BROKER_UNAVAILABLE: no broker of the topic answered'),
  },
});

const commitOffsetRoute = createRoute({
  method: 'put',
  path: `${BASE}/offsets`,
  operationId: 'commitOffset',
  tags: ['consume'],
  summary: "Commit a queue's offset (pull consumers); never backwards (a reset moves it back)",
  request: { params: TopicGroupParams, body: body(CommitOffsetRequestSchema) },
  responses: {
    200: json(GroupProgressSchema, "The broker's progress after the commit"),
    400: failure(BAD_PARAMS),
    404: failure('TOPIC_NOT_FOUND, BROKER_NOT_FOUND, QUEUE_NOT_FOUND, GROUP_NOT_FOUND'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
    503: failure('BROKER_UNAVAILABLE'),
  },
});

const resetRoute = createRoute({
  method: 'post',
  path: `${BASE}/reset`,
  operationId: 'resetOffsets',
  tags: ['consume'],
  summary: 'Move the group to earliest, latest or a timestamp on every queue of every broker of the topic; leases in flight end',
  request: { params: TopicGroupParams, body: body(ResetRequestSchema) },
  responses: {
    200: json(GroupProgressSchema, 'The progress after the reset'),
    400: failure(BAD_PARAMS),
    404: failure('TOPIC_NOT_FOUND, GROUP_NOT_FOUND'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
    503: failure('NO_ROUTE, BROKER_UNAVAILABLE: a broker did not reset; retry (a reset is idempotent)'),
  },
});

const redriveRoute = createRoute({
  method: 'post',
  path: '/v1/groups/{group}/dlq/redrive',
  operationId: 'redriveDeadLetters',
  tags: ['consume'],
  summary: "Send the group's dead letters (%DLQ%{group}) back to the topics they came from",
  description: 'Each dead letter is removed from the dead-letter topic only after its resend was stored (at-least-once: a crash in between sends it twice).',
  request: { params: GroupParams, body: body(RedriveRequestSchema) },
  responses: {
    200: json(RedriveResultSchema),
    400: failure('INVALID_JSON, BAD_REQUEST, INVALID_GROUP, INVALID_PARAMETER (max 1-10000)'),
    415: failure('UNSUPPORTED_MEDIA_TYPE'),
    503: failure('BROKER_UNAVAILABLE'),
  },
});

export function consumeRoutes(app: OpenAPIHono, deps: GatewayDeps): void {
  const { routes, brokers, metrics } = deps;
  const calls = consumeCalls(deps);

  app.openAPIRegistry.registerPath(receiveRoute);
  app.post('/v1/topics/:topic/groups/:group/receive', async (c) => {
    const { status, body, contentType } = await calls.receive(c.req.param(), (max) => readJsonObject(c, max), c.req.header('accept'));
    return c.body(body, status, contentType ? { 'Content-Type': contentType } : JSON_HEADERS);
  });

  app.openAPIRegistry.registerPath(ackRoute);
  app.post('/v1/topics/:topic/groups/:group/ack', async (c) => {
    const { status, body } = await calls.ack(c.req.param(), (max) => readJsonObject(c, max));
    return c.body(body, status, JSON_HEADERS);
  });

  app.openAPIRegistry.registerPath(changeInvisibilityRoute);
  app.post('/v1/topics/:topic/groups/:group/change-invisibility', async (c) => {
    const { status, body } = await calls.changeInvisibility(c.req.param(), (max) => readJsonObject(c, max));
    return c.body(body, status, JSON_HEADERS);
  });

  app.openapi(describeRoute, async (c) => {
    const { topic, group } = c.req.valid('param');
    const targets = topicMasters(await routes.get(topic));
    if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
    const settled = await Promise.allSettled(targets.map((t) => brokers.get(t.addr).progress(topic, group)));
    const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ broker: targets[i]!.brokerName, err: s.reason as unknown }] : []));
    if (answered.length === 0) throw failed[0]!.err;
    const unreachable = failed.filter((f) => !(f.err instanceof CirrusError && f.err.code === 'GROUP_NOT_FOUND')).map((f) => f.broker);
    return c.json(progressJson(topic, group, answered, unreachable), 200);
  });

  app.openAPIRegistry.registerPath(commitOffsetRoute);
  app.put('/v1/topics/:topic/groups/:group/offsets', async (c) => {
    const { topic, group } = parseWith(TopicGroupParams, c.req.param());
    const { broker, queueId, offset } = parseWith(CommitOffsetRequestSchema, await readJsonObject(c));
    const addr = await readableBrokerAddr(routes, topic, broker, queueId);
    const progress = await brokers.get(addr).commitOffset({ topic, group, queueId, offset });
    return c.json(progressJson(topic, group, [progress], []), 200);
  });

  app.openAPIRegistry.registerPath(resetRoute);
  app.post('/v1/topics/:topic/groups/:group/reset', async (c) => {
    const { topic, group } = parseWith(TopicGroupParams, c.req.param());
    const { to } = parseWith(ResetRequestSchema, await readJsonObject(c));
    const targets = topicMasters(await routes.get(topic));
    if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
    // All or an error: a group half reset is not a state to answer 200 for (retrying is safe).
    const settled = await Promise.allSettled(targets.map((t) => brokers.get(t.addr).resetOffset({ topic, group, to })));
    const bad = settled.findIndex((s) => s.status === 'rejected');
    if (bad >= 0) {
      const err = (settled[bad] as PromiseRejectedResult).reason as unknown;
      if (err instanceof CirrusError && err.status < 500) throw err;
      throw new CirrusError('BROKER_UNAVAILABLE', `broker ${targets[bad]!.brokerName} did not reset the group; retry`, { cause: err });
    }
    const progress = settled.map((s) => (s as PromiseFulfilledResult<ConsumerProgress>).value);
    return c.json(progressJson(topic, group, progress, []), 200);
  });

  app.openAPIRegistry.registerPath(redriveRoute);
  app.post('/v1/groups/:group/dlq/redrive', async (c) => {
    const { group } = parseWith(GroupParams, c.req.param());
    const { max } = parseWith(RedriveRequestSchema, await readJsonObject(c));
    const result = await redriveDeadLetters(deps, group, max);
    metrics.messagesRedriven += result.redriven;
    return c.json(result, 200);
  });
}

/** The brokers' progress as one answer: queues by broker and id, totals summed. */
function progressJson(topic: string, group: string, progress: readonly ConsumerProgress[], unreachableBrokers: string[]) {
  const queues = progress
    .flatMap((p) => p.queues.map((q) => ({ broker: p.brokerName, ...q })))
    .sort((a, b) => (a.broker === b.broker ? a.queueId - b.queueId : a.broker < b.broker ? -1 : 1))
    .map((q) => ({
      broker: q.broker,
      queueId: q.queueId,
      minOffset: q.minOffset,
      maxOffset: q.maxOffset,
      committedOffset: q.committedOffset,
      cursor: q.cursor,
      inFlight: q.inFlight,
      lag: q.lag,
    }));
  const sum = (f: (q: (typeof queues)[number]) => number) => queues.reduce((s, q) => s + f(q), 0);
  return {
    topic,
    group,
    queues,
    totals: { maxOffset: sum((q) => q.maxOffset), committedOffset: sum((q) => q.committedOffset), inFlight: sum((q) => q.inFlight), lag: sum((q) => q.lag) },
    retried: progress.reduce((s, p) => s + p.retried, 0),
    deadLettered: progress.reduce((s, p) => s + p.deadLettered, 0),
    ...(unreachableBrokers.length > 0 ? { unreachableBrokers } : {}),
  };
}
