/** The gateway as a local process (npm start). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { createGatewayApp } from './app';
import { gatewayHelp, loadGatewayConfig } from './config';
import { createGatewayDeps } from './create-deps';
import { frontServer, nodeExchangeListener } from './front/front-server';
import { hotRouter, hotRoutesListener } from './hot-routes';

exitWithHelpIfAsked(gatewayHelp());

const config = loadGatewayConfig();
const deps = createGatewayDeps(config);
// What @hono/node-server's serve() builds, with the hot routes (send, receive, ack) answered
// before Hono: same answers, a fraction of the CPU (hot-routes.ts).
const honoListener = getRequestListener(createGatewayApp(deps).fetch, { hostname: config.host });
const router = hotRouter(deps);
const server = createServer(config.hotRoutes ? nodeExchangeListener(hotRoutesListener(router, honoListener)) : honoListener);
// The front server reads the hot routes' requests itself and hands node:http the rest (front/front-server.ts).
const listening = config.hotRoutes && config.frontServer ? frontServer(router, server) : server;
listening.listen(config.port, config.host, () => {
  const { port } = listening.address() as AddressInfo;
  deps.logger.info('gateway listening', {
    host: config.host,
    port,
    nameServer: config.nameServerAddr,
    hotRoutes: config.hotRoutes,
    frontServer: listening !== server,
  });
});

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  deps.logger.info('gateway stopping', { signal });
  listening.close(() => {
    deps.producer.shutdown();
    deps.brokers.close();
    process.exit(0);
  });
  // Keep-alive sockets can hold close() open; do not wait on them for long.
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// Started by the launcher with an IPC channel: it closes when the launcher dies, even by SIGKILL.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => shutdown('launcher gone'));
}
