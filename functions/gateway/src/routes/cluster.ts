/** GET /v1/cluster: the NameServer's broker list, each live broker with its store figures. */
import type { Hono } from 'hono';
import type { GatewayDeps } from '../deps';

/** A broker that does not answer its stats within this long is listed with "stats": null. */
const STATS_TIMEOUT_MS = 1_000;

export function clusterRoutes(app: Hono, { nameServer, brokers }: GatewayDeps): void {
  app.get('/v1/cluster', async (c) => {
    const list = await nameServer.getCluster();
    const stats = await Promise.all(list.map((b) => (b.alive ? brokers.get(b.addr).stats(STATS_TIMEOUT_MS) : null)));
    return c.json({ brokers: list.map((b, i) => ({ ...b, stats: stats[i] })) });
  });
}
