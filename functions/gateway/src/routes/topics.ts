/** Topic administration: the NameServer holds topic config; the gateway checks and forwards. */
import type { Hono } from 'hono';
import type { ClusterBrokerInfo } from '../../../../client/src/api/types';
import { HttpClient } from '../../../../client/src/http/http-client';
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

  // Each live broker's store figures (put rate, flush latency, offsets) from its /v1/stats,
  // asked in parallel; a broker that does not answer within STATS_TIMEOUT_MS gets null.
  const statsClients = new Map<string, HttpClient>();
  const brokerStats = async (b: ClusterBrokerInfo): Promise<unknown> => {
    if (!b.alive) return null;
    let client = statsClients.get(b.addr);
    if (!client) {
      client = new HttpClient(b.addr, { maxSockets: 2, timeoutMs: STATS_TIMEOUT_MS });
      statsClients.set(b.addr, client);
    }
    // The client's timeout covers the answer, not the connect: a race bounds both.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STATS_TIMEOUT_MS)));
    try {
      return await Promise.race([client.json<unknown>('GET', '/v1/stats', undefined, STATS_TIMEOUT_MS).catch(() => null), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  app.get('/v1/cluster', async (c) => {
    const brokers = await nameServer.getCluster();
    // Brokers that left (a replaced container has a new address) drop their client.
    const addrs = new Set(brokers.map((b) => b.addr));
    for (const [addr, client] of statsClients) {
      if (!addrs.has(addr)) {
        client.close();
        statsClients.delete(addr);
      }
    }
    const stats = await Promise.all(brokers.map(brokerStats));
    return c.json({ brokers: brokers.map((b, i) => ({ ...b, stats: stats[i] })) });
  });
}

const STATS_TIMEOUT_MS = 1_000;
