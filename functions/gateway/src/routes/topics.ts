/** Topic administration: the NameServer holds topic config; the gateway checks and forwards. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { CirrusError } from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import { parseWith } from '../api/check';
import { TopicParams } from '../api/params';
import { CreateTopicSchema, failure, json, TopicInfoSchema, TopicListSchema, TopicRouteDataSchema } from '../api/schemas';
import type { GatewayDeps } from '../deps';

/** A broker's delete is a few fsyncs; this bounds a broker that hangs. */
const BROKER_DELETE_TIMEOUT_MS = 10_000;

const createTopicRoute = createRoute({
  method: 'post',
  path: '/v1/topics',
  operationId: 'createTopic',
  tags: ['topics'],
  summary: 'Create a topic on every live broker',
  request: { body: { required: true, content: { 'application/json': { schema: CreateTopicSchema } } } },
  responses: {
    201: json(TopicInfoSchema, 'Created'),
    200: json(TopicInfoSchema, 'Existed already with the same queues'),
    400: failure('INVALID_JSON, BAD_REQUEST (not an object), INVALID_TOPIC, RESERVED_TOPIC, INVALID_PARAMETER (queue count)'),
    409: failure('TOPIC_EXISTS: exists with another queue count'),
    415: failure('UNSUPPORTED_MEDIA_TYPE: not JSON'),
    503: failure('NO_LIVE_BROKER'),
  },
});

const listTopicsRoute = createRoute({
  method: 'get',
  path: '/v1/topics',
  operationId: 'listTopics',
  tags: ['topics'],
  summary: 'List topics',
  responses: { 200: json(TopicListSchema) },
});

const getTopicRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}',
  operationId: 'getTopic',
  tags: ['topics'],
  summary: 'Describe a topic',
  request: { params: TopicParams },
  responses: { 200: json(TopicInfoSchema), 400: failure('INVALID_TOPIC'), 404: failure('TOPIC_NOT_FOUND') },
});

const deleteTopicRoute = createRoute({
  method: 'delete',
  path: '/v1/topics/{topic}',
  operationId: 'deleteTopic',
  tags: ['topics'],
  summary: 'Delete a topic from every broker of its route, then from the NameServer',
  request: { params: TopicParams },
  responses: {
    204: { description: 'Deleted' },
    400: failure('INVALID_TOPIC'),
    404: failure('TOPIC_NOT_FOUND'),
    503: failure('BROKER_UNAVAILABLE: a broker did not delete its queues; the topic stays, retry'),
  },
});

const getTopicRouteRoute = createRoute({
  method: 'get',
  path: '/v1/topics/{topic}/route',
  operationId: 'getTopicRoute',
  tags: ['topics'],
  summary: 'TopicRouteData (live brokers only)',
  request: { params: TopicParams },
  responses: { 200: json(TopicRouteDataSchema), 400: failure('INVALID_TOPIC'), 404: failure('TOPIC_NOT_FOUND') },
});

export function topicRoutes(app: OpenAPIHono, { nameServer, routes, brokers, logger }: GatewayDeps): void {
  // The body is read by readJsonObject (415, 413, INVALID_TEXT, INVALID_JSON), then the schema checks it.
  app.openAPIRegistry.registerPath(createTopicRoute);
  app.post('/v1/topics', async (c) => {
    const { topic, queues, cluster } = parseWith(CreateTopicSchema, await readJsonObject(c));
    const { created, topic: info } = await nameServer.createTopic({ topic, queues, cluster });
    routes.invalidate(topic);
    return c.json(info, created ? 201 : 200);
  });

  app.openapi(listTopicsRoute, async (c) => c.json({ topics: await nameServer.listTopics() }, 200));

  app.openapi(getTopicRoute, async (c) => c.json(await nameServer.getTopic(c.req.valid('param').topic), 200));

  // RocketMQ's deleteTopic: deleteTopicInBroker on every broker of the route, then
  // deleteTopicInNamesrv. A broker that fails to answer fails the delete (503, retriable;
  // the NameServer keeps the topic, so a retry finishes it). Brokers not in the route are
  // down: when one comes back its queues belong to an older incarnation (createdAt) than any
  // topic created under the name since, and it drops them before serving that topic.
  app.openapi(deleteTopicRoute, async (c) => {
    const { topic } = c.req.valid('param');
    const info = await nameServer.getTopic(topic);
    const route = await nameServer.getRouteInfoByTopic(topic);
    const addrs = route.brokerDatas.flatMap((b) => Object.values(b.brokerAddrs).map((addr) => ({ brokerName: b.brokerName, addr })));
    const results = await Promise.allSettled(addrs.map((b) => brokers.get(b.addr).deleteTopic(topic, info.createdAt, BROKER_DELETE_TIMEOUT_MS)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ ...addrs[i]!, err: r.reason as unknown }] : []));
    if (failed.length > 0) {
      const first = failed[0]!;
      logger.warn('topic delete: a broker did not delete its queues; the topic stays', {
        topic,
        failed: failed.map((f) => ({ brokerName: f.brokerName, addr: f.addr, err: f.err instanceof Error ? f.err.message : String(f.err) })),
      });
      throw new CirrusError('BROKER_UNAVAILABLE', `topic "${topic}" not deleted: broker ${first.brokerName} (${first.addr}) did not delete its queues; retry`, {
        cause: first.err,
      });
    }
    await nameServer.deleteTopic(topic);
    routes.invalidate(topic);
    return c.body(null, 204);
  });

  app.openapi(getTopicRouteRoute, async (c) => c.json(await nameServer.getRouteInfoByTopic(c.req.valid('param').topic), 200));
}
