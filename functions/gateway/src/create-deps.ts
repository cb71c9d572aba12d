import { BrokerClients, createLogger, NameServerClient, RouteCache } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import type { GatewayConfig } from './config';
import type { GatewayDeps } from './deps';
import { GatewayMetrics } from './metrics';

export function createGatewayDeps(config: GatewayConfig): GatewayDeps {
  const logger = createLogger({ service: 'gateway' }, config.logLevel);
  const nameServer = new NameServerClient(config.nameServerAddr);
  // The gateway's own cache, handed to its producer too: a topic created or deleted here is
  // forgotten (invalidate) by both at once.
  const routes = new RouteCache(nameServer, { ttlMs: config.routeTtlMs });
  const producer = new Producer({
    logger,
    // Many HTTP producers share this one: merge their batches when brokers are busy.
    autoBatch: true,
    maxInflightPerTopic: config.maxInflightPerTopic,
    nameServer,
    sendTimeoutMs: config.sendTimeoutMs,
    routes,
    retryTimesWhenSendFailed: config.retryTimesWhenSendFailed,
  });
  return {
    nameServer,
    routes,
    producer,
    brokers: new BrokerClients(),
    logger,
    metrics: new GatewayMetrics(),
  };
}
