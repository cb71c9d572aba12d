/** Topic administration: the NameServer holds topic config; the gateway checks and forwards. */
import type { Hono } from 'hono';
import { validateQueueCount, validateTopic, validateUserTopic } from '../../../../client/src/validation';
import { readJsonObject } from '../../../shared/http';
import type { GatewayDeps } from '../deps';

export function topicRoutes(app: Hono, { nameServer, producer }: GatewayDeps): void {
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

  app.delete('/v1/topics/:topic', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    await nameServer.deleteTopic(topic);
    producer.routes.invalidate(topic);
    return c.body(null, 204);
  });

  app.get('/v1/topics/:topic/route', async (c) =>
    c.json(await nameServer.getRouteInfoByTopic(validateTopic(c.req.param('topic')))),
  );
}
