import type { BrokerClients, Logger, NameServerApi, RouteCache } from '@cirrusmq/client/protocol';
import type { Producer } from '@cirrusmq/client';
import type { GatewayMetrics } from './metrics';

/** What the gateway's routes work with; built once per process (or Lambda container). */
export interface GatewayDeps {
  nameServer: NameServerApi;
  /** The gateway's topic routes, shared with its producer (one NameServer call per topic per TTL). */
  routes: RouteCache;
  producer: Producer;
  brokers: BrokerClients;
  logger: Logger;
  metrics: GatewayMetrics;
}
