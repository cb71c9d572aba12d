/** The gateway's HTTP API (v1), built once and served as a Lambda handler or a local server. */
import { Hono } from 'hono';
import { installHttpBasics } from '../../shared/http';
import type { GatewayDeps } from './deps';
import { openApiDocument } from './openapi';
import { lookupRoutes } from './routes/lookup';
import { clusterRoutes } from './routes/cluster';
import { messageRoutes } from './routes/messages';
import { topicRoutes } from './routes/topics';

export function createGatewayApp(deps: GatewayDeps): Hono {
  const app = new Hono();
  installHttpBasics(app, deps.logger);
  // pid: the launcher tells its own child from another process on the same port.
  app.get('/healthz', (c) => c.json({ status: 'ok', pid: process.pid }));
  app.get('/openapi.json', (c) => c.json(openApiDocument));
  app.get('/metrics', async (c) =>
    c.text(await deps.metrics.render(deps.producer.nameServerCalls), 200, { 'content-type': 'text/plain; version=0.0.4' }),
  );
  app.use('/v1/topics/:topic/messages', deps.metrics.sendTimer());
  topicRoutes(app, deps);
  clusterRoutes(app, deps);
  messageRoutes(app, deps);
  lookupRoutes(app, deps);
  return app;
}
