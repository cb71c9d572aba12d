/**
 * The NameServer's HTTP API, built once and served two ways: handler.ts (Lambda) and
 * main.ts (a local process). Tests call app.request(). Logic lives in the RouteTable;
 * this file only checks input and shapes answers.
 */
import { Hono } from 'hono';
import { CirrusError, type Logger, validateGroup, validatePutGroupRequest, validateTopic } from '@cirrusmq/client/protocol';
import { installHttpBasics, readJsonObject } from '../../shared/http';
import { NameServerMetrics } from './metrics';
import type { RouteTable } from './route-table/route-table';
import { parseBrokerIdParam, validateCreateTopic, validateName, validateRegistration } from './validate-request';

export function createNameServerApp(routeTable: RouteTable, logger: Logger): Hono {
  const app = new Hono();

  installHttpBasics(app, logger);
  const metrics = new NameServerMetrics(routeTable);
  app.use(metrics.middleware());
  app.get('/metrics', async (c) => c.text(await metrics.text(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  // pid: the launcher tells its own child from another process on the same port.
  app.get('/healthz', (c) => c.json({ status: 'ok', pid: process.pid }));

  // Brokers: register at start and again as the heartbeat.
  app.post('/v1/brokers', async (c) => {
    const reg = validateRegistration(await readJsonObject(c));
    return c.json(await routeTable.registerBroker(reg));
  });

  app.delete('/v1/brokers/:cluster/:brokerName/:brokerId', async (c) => {
    await routeTable.unregisterBroker(
      validateName('cluster', c.req.param('cluster')),
      validateName('brokerName', c.req.param('brokerName')),
      parseBrokerIdParam(c.req.param('brokerId')),
    );
    return c.body(null, 204);
  });

  app.get('/v1/cluster', async (c) => c.json({ brokers: await routeTable.listBrokers() }));

  // Topics.
  app.post('/v1/topics', async (c) => {
    const req = validateCreateTopic(await readJsonObject(c));
    const { created, topic } = await routeTable.createTopic(req);
    return c.json(topic, created ? 201 : 200);
  });

  app.get('/v1/topics', async (c) => c.json({ topics: await routeTable.listTopics() }));

  // Reads accept reserved prefixes (%RETRY%, %DLQ%): brokers and consumers look them up.
  app.get('/v1/topics/:topic', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    return c.json((await routeTable.getTopic(topic)) ?? notFound(topic));
  });

  app.delete('/v1/topics/:topic', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    if (!(await routeTable.deleteTopic(topic))) notFound(topic);
    return c.body(null, 204);
  });

  // A topic with no live broker answers 200 with empty queueDatas: the config exists, and
  // the caller (producer, gateway) turns "nowhere to send" into its own 503.
  app.get('/v1/topics/:topic/route', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    return c.json((await routeTable.getTopicRoute(topic)) ?? notFound(topic));
  });

  // Consumer groups (RocketMQ's SubscriptionGroupConfig): config only; brokers keep the offsets.
  app.get('/v1/groups', async (c) => c.json({ groups: await routeTable.listGroups() }));

  app.get('/v1/groups/:group', async (c) => {
    const group = validateGroup(c.req.param('group'));
    return c.json((await routeTable.getGroup(group)) ?? groupNotFound(group));
  });

  app.put('/v1/groups/:group', async (c) => {
    const group = validateGroup(c.req.param('group'));
    const req = validatePutGroupRequest(await readJsonObject(c));
    const { created, group: config } = await routeTable.putGroup(group, req);
    return c.json(config, created ? 201 : 200);
  });

  app.delete('/v1/groups/:group', async (c) => {
    const group = validateGroup(c.req.param('group'));
    if (!(await routeTable.deleteGroup(group))) groupNotFound(group);
    return c.body(null, 204);
  });

  // A group is created on first use: brokers call this when a consumer names a group.
  app.post('/v1/groups/:group/ensure', async (c) => c.json(await routeTable.ensureGroup(validateGroup(c.req.param('group')))));

  return app;
}

function groupNotFound(group: string): never {
  throw new CirrusError('GROUP_NOT_FOUND', `group "${group}" does not exist`);
}

function notFound(topic: string): never {
  throw new CirrusError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist`);
}
