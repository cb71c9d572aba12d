/** Builds the ProxyContext from the configuration (main.ts and the tests that run a proxy in-process). */
import { BrokerClients, createLogger, type Logger, NameServerClient, RouteCache } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { ClientSessions } from './client/client-sessions.js';
import type { ProxyConfig } from './config.js';
import { GroupSettings } from './group-settings.js';
import { ProxyMetrics } from './metrics.js';
import type { ProxyContext } from './proxy-context.js';
import { MasterBrokers } from './transaction/master-brokers.js';
import { TransactionChecks } from './transaction/transaction-checks.js';

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
  const metrics = new ProxyMetrics();
  const sessions = new ClientSessions();
  const masters = new MasterBrokers(nameServer);
  const writeCommand = (clientId: string, command: object) => {
    const stream = sessions.get(clientId)?.stream;
    if (!stream || stream.writableEnded || stream.destroyed) return false;
    stream.write(command);
    return true;
  };
  const transactionChecks = new TransactionChecks(
    masters,
    new BrokerClients({ maxSockets: 1024 }),
    writeCommand,
    logger.child({ component: 'transaction-checks' }),
    {
      onCheck: (result) => metrics.transactionChecks.inc({ result }),
    },
  );
  metrics.transactionCheckPolls = () => transactionChecks.polls;
  return {
    config,
    logger,
    nameServer,
    routes,
    brokers: new BrokerClients(),
    producer,
    sessions,
    groups: new GroupSettings(nameServer, config.groupTtlMs),
    metrics,
    masters,
    transactionChecks,
  };
}

/** Closes the context's connections (shutdown). */
export function closeProxyContext(ctx: ProxyContext): void {
  ctx.transactionChecks.close();
  ctx.producer.shutdown();
  ctx.brokers.close();
  (ctx.nameServer as NameServerClient).close?.();
}
