import { BrokerClients, createLogger, NameServerClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import type { GatewayConfig } from './config';
import type { GatewayDeps } from './deps';
import { GatewayMetrics } from './metrics';

export function createGatewayDeps(config: GatewayConfig): GatewayDeps {
  const logger = createLogger({ service: 'gateway' }, config.logLevel);
  const nameServer = new NameServerClient(config.nameServerAddr);
  const producer = new Producer({
    logger,
    // Many HTTP producers share this one: merge their batches when brokers are busy.
    autoBatch: true,
    maxInflightPerTopic: config.maxInflightPerTopic,
    nameServer,
    sendTimeoutMs: config.sendTimeoutMs,
    routeTtlMs: config.routeTtlMs,
    retryTimesWhenSendFailed: config.retryTimesWhenSendFailed,
  });
  return {
    nameServer,
    producer,
    brokers: new BrokerClients(),
    logger,
    metrics: new GatewayMetrics(),
  };
}
