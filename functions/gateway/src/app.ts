/** The gateway's HTTP API (v1), built once and served as a Lambda handler or a local server. */
import { swaggerUI } from '@hono/swagger-ui';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { BlankEnv } from 'hono/types';
import { installHttpBasics } from '../../shared/http';
import { validationHook } from './api/check';
import { HealthSchema, json } from './api/schemas';
import type { GatewayDeps } from './deps';
import { openApiDocument, registerSecurity } from './openapi';
import { clusterRoutes } from './routes/cluster';
import { groupRoutes } from './routes/groups';
import { consumeRoutes } from './routes/consume';
import { lookupRoutes } from './routes/lookup';
import { messageRoutes } from './routes/messages';
import { scheduleRoutes } from './routes/schedule';
import { topicRoutes } from './routes/topics';
import { transactionRoutes } from './routes/transactions';

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  tags: ['operations'],
  summary: 'Liveness',
  description: 'Open (no IAM signature) in a deployment.',
  security: [],
  responses: { 200: json(HealthSchema) },
});

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (text exposition format 0.0.4)',
  responses: { 200: { description: 'OK', content: { 'text/plain': { schema: z.string() } } } },
});

export function createGatewayApp(deps: GatewayDeps): OpenAPIHono<BlankEnv> {
  const app = new OpenAPIHono<BlankEnv>({ defaultHook: validationHook });
  installHttpBasics(app, deps.logger);
  registerSecurity(app);
  // pid: the launcher tells its own child from another process on the same port.
  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const, pid: process.pid }, 200));
  app.openapi(metricsRoute, async (c) =>
    c.text(await deps.metrics.render(deps.producer.nameServerCalls), 200, { 'content-type': 'text/plain; version=0.0.4' }),
  );
  app.use('/v1/topics/:topic/messages', deps.metrics.sendTimer());
  topicRoutes(app, deps);
  clusterRoutes(app, deps);
  groupRoutes(app, deps);
  messageRoutes(app, deps);
  lookupRoutes(app, deps);
  consumeRoutes(app, deps);
  scheduleRoutes(app, deps);
  transactionRoutes(app, deps);
  // Built once, after every route is registered: the document describes exactly these routes.
  const document = openApiDocument(app);
  app.get('/openapi.json', (c) => c.json(document));
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'CirrusMQ gateway API' }));
  return app;
}
