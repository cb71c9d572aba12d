import type { BrokerClients, Logger, NameServerApi } from '@cirrusmq/client/protocol';
import type { Producer } from '@cirrusmq/client';
import type { GatewayMetrics } from './metrics';

/** What the gateway's routes work with; built once per process (or Lambda container). */
export interface GatewayDeps {
  nameServer: NameServerApi;
  producer: Producer;
  brokers: BrokerClients;
  logger: Logger;
  metrics: GatewayMetrics;
}
