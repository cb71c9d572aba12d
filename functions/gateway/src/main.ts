/** The gateway as a local process (npm start). */
import { serve } from '@hono/node-server';
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { createGatewayApp } from './app';
import { gatewayHelp, loadGatewayConfig } from './config';
import { createGatewayDeps } from './create-deps';

exitWithHelpIfAsked(gatewayHelp());

const config = loadGatewayConfig();
const deps = createGatewayDeps(config);
const server = serve({ fetch: createGatewayApp(deps).fetch, hostname: config.host, port: config.port }, (info) => {
  deps.logger.info('gateway listening', { host: config.host, port: info.port, nameServer: config.nameServerAddr });
});

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  deps.logger.info('gateway stopping', { signal });
  server.close(() => {
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
