import type { BrokerClients } from '../../../client/src/api/broker-client';
import type { NameServerApi } from '../../../client/src/api/nameserver-client';
import type { Logger } from '../../../client/src/logger';
import type { Producer } from '../../../client/src/producer/producer';
import type { GatewayMetrics } from './metrics';

/** What the gateway's routes work with; built once per process (or Lambda container). */
export interface GatewayDeps {
  nameServer: NameServerApi;
  producer: Producer;
  brokers: BrokerClients;
  logger: Logger;
  metrics: GatewayMetrics;
}
