/** Builds the ProxyContext from the configuration (main.ts and the tests that run a proxy in-process). */
import { BrokerClients, createLogger, type Logger, NameServerClient, RouteCache } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { ClientSessions } from './client/client-sessions.js';
import type { ProxyConfig } from './config.js';
import { GroupSettings } from './group-settings.js';
import { ProxyMetrics } from './metrics.js';
import type { ProxyContext } from './proxy-context.js';

export function createProxyContext(config: ProxyConfig, logger: Logger = createLogger({ service: 'grpc-proxy' }, config.logLevel)): ProxyContext {
  const nameServer = new NameServerClient(config.nameServerAddr);
  const routes = new RouteCache(nameServer, { ttlMs: config.routeTtlMs });
  const producer = new Producer({
    logger,
    // One proxy serves many clients, each sending one message per RPC: merge them when busy.
    autoBatch: true,
    maxInflightPerTopic: config.maxInflightPerTopic,
    nameServer,
    sendTimeoutMs: config.sendTimeoutMs,
    routes,
    retryTimesWhenSendFailed: config.retryTimesWhenSendFailed,
  });
  return {
    config,
    logger,
    nameServer,
    routes,
    brokers: new BrokerClients(),
    producer,
    sessions: new ClientSessions(),
    groups: new GroupSettings(nameServer, config.groupTtlMs),
    metrics: new ProxyMetrics(),
  };
}

/** Closes the context's connections (shutdown). */
export function closeProxyContext(ctx: ProxyContext): void {
  ctx.producer.shutdown();
  ctx.brokers.close();
  (ctx.nameServer as NameServerClient).close?.();
}
