/** Topic administration: the NameServer holds topic config; the gateway checks and forwards. */
import type { Hono } from 'hono';
import { CirrusError, validateQueueCount, validateTopic, validateUserTopic } from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import type { GatewayDeps } from '../deps';

/** A broker's delete is a few fsyncs; this bounds a broker that hangs. */
const BROKER_DELETE_TIMEOUT_MS = 10_000;

export function topicRoutes(app: Hono, { nameServer, producer, brokers, logger }: GatewayDeps): void {
  app.post('/v1/topics', async (c) => {
    const body = await readJsonObject(c);
    const topic = validateUserTopic(body.topic);
    const queues = validateQueueCount(body.queues);
    const cluster = body.cluster === undefined ? undefined : String(body.cluster);
    const { created, topic: info } = await nameServer.createTopic({ topic, queues, cluster });
    producer.routes.invalidate(topic);
    return c.json(info, created ? 201 : 200);
  });

  app.get('/v1/topics', async (c) => c.json({ topics: await nameServer.listTopics() }));

  app.get('/v1/topics/:topic', async (c) => c.json(await nameServer.getTopic(validateTopic(c.req.param('topic')))));

  // RocketMQ's deleteTopic: deleteTopicInBroker on every broker of the route, then
  // deleteTopicInNamesrv. A broker that fails to answer fails the delete (503, retriable;
  // the NameServer keeps the topic, so a retry finishes it). Brokers not in the route are
  // down: when one comes back its queues belong to an older incarnation (createdAt) than any
  // topic created under the name since, and it drops them before serving that topic.
  app.delete('/v1/topics/:topic', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
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
    producer.routes.invalidate(topic);
    return c.body(null, 204);
  });

  app.get('/v1/topics/:topic/route', async (c) =>
    c.json(await nameServer.getRouteInfoByTopic(validateTopic(c.req.param('topic')))),
  );
}
