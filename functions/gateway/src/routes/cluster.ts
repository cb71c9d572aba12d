/** GET /v1/cluster: the NameServer's broker list, each live broker with its store figures. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { ClusterSchema, json } from '../api/schemas';
import type { GatewayDeps } from '../deps';

/** A broker that does not answer its stats within this long is listed with "stats": null. */
const STATS_TIMEOUT_MS = 1_000;

const getClusterRoute = createRoute({
  method: 'get',
  path: '/v1/cluster',
  operationId: 'getCluster',
  tags: ['cluster'],
  summary: "Brokers, their last heartbeat and liveness, and each live broker's store figures",
  responses: { 200: json(ClusterSchema) },
});

export function clusterRoutes(app: OpenAPIHono, { nameServer, brokers }: GatewayDeps): void {
  app.openapi(getClusterRoute, async (c) => {
    const list = await nameServer.getCluster();
    const stats = await Promise.all(list.map((b) => (b.alive ? brokers.get(b.addr).stats(STATS_TIMEOUT_MS) : null)));
    return c.json({ brokers: list.map((b, i) => ({ ...b, stats: stats[i] })) } as never, 200);
  });
}
