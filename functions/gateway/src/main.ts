/** The gateway as a local process (npm start). */
import { serve } from '@hono/node-server';
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { createGatewayApp } from './app';
import { loadGatewayConfig } from './config';
import { createGatewayDeps } from './create-deps';

exitWithHelpIfAsked(`CirrusMQ gateway (the HTTP API): node --import tsx functions/gateway/src/main.ts

Environment:
  CIRRUSMQ_GATEWAY_HOST, CIRRUSMQ_GATEWAY_PORT   listen address (127.0.0.1:8080)
  CIRRUSMQ_NAMESRV_ADDR                          the NameServer, host:port (127.0.0.1:9876)
  CIRRUSMQ_SEND_TIMEOUT_MS                       budget of one send, retries included (3000)
  CIRRUSMQ_RETRY_TIMES_WHEN_SEND_FAILED          retries on another broker (2)
  CIRRUSMQ_ROUTE_TTL_MS                          route cache lifetime (30000)
  CIRRUSMQ_MAX_INFLIGHT_PER_TOPIC                broker requests of a topic in flight before batches merge (2)
  CIRRUSMQ_LOG_LEVEL                             debug | info | warn | error (info)
`);

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
