/**
 * What the RPC handlers work with, built once per process (create-context.ts). The proxy
 * reaches the NameServer and the brokers through @cirrusmq/client/protocol exactly as the
 * SDK's direct path does, so it holds no message state: several proxies can serve behind one
 * load balancer.
 */
import type { BrokerClients, Logger, NameServerApi, RouteCache } from '@cirrusmq/client/protocol';
import type { Producer } from '@cirrusmq/client';
import type { ClientSessions } from './client/client-sessions.js';
import type { ProxyConfig } from './config.js';
import type { GroupSettings } from './group-settings.js';
import type { ProxyMetrics } from './metrics.js';
import type { MasterBrokers } from './transaction/master-brokers.js';
import type { TransactionChecks } from './transaction/transaction-checks.js';

export interface ProxyContext {
  readonly config: ProxyConfig;
  readonly logger: Logger;
  readonly nameServer: NameServerApi;
  /** Topic routes, shared with `producer` (one NameServer call per topic per TTL). */
  readonly routes: RouteCache;
  /** Broker clients for the consumer RPCs (the producer keeps its own pool). */
  readonly brokers: BrokerClients;
  /** The SDK's producer: queue choice, retries on another broker, merging of concurrent sends (autoBatch). */
  readonly producer: Producer;
  /** The clients' Telemetry sessions: the proxy's only state. */
  readonly sessions: ClientSessions;
  /** Consumer groups' settings (orderly, retryMaxTimes) from the NameServer, cached. */
  readonly groups: GroupSettings;
  /** GET /metrics on the health port; every RPC is timed by server.ts (instrument.ts). */
  readonly metrics: ProxyMetrics;
  /** Live masters by name: where EndTransaction's transaction id sends it, and where check-backs are polled. */
  readonly masters: MasterBrokers;
  /** The check-back polls of the producers connected here (pushed as RecoverOrphanedTransactionCommand). */
  readonly transactionChecks: TransactionChecks;
}
