/**
 * The proxy's figures, served at GET /metrics on the health port in Prometheus text format:
 * every unary RPC's duration by method and answered Code (what a client saw), the streams
 * open (Telemetry sessions, long-polling receives), and the process's own CPU and memory
 * (prom-client's defaults), so the extra hop's cost can be read beside the brokers'.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** A unary RPC: a route-cache hit and a broker write (~ms) to a NameServer lookup and retries (seconds). */
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ProxyMetrics {
  /** Per instance (tests may build several proxies in one process), not prom-client's global registry. */
  readonly registry = new Registry();
  readonly rpcSeconds: Histogram<'method' | 'code'>;
  readonly streamsOpen: Gauge<'method'>;
  readonly streamsTotal: Counter<'method'>;
  /** Check-backs from the brokers: written on a producer's Telemetry stream, or dropped (no producer of the group connected). */
  readonly transactionChecks: Counter<'result'>;
  /** Set by create-context.ts: the check-back long polls open now (group × broker). */
  transactionCheckPolls: () => number = () => 0;

  constructor(processMetrics = true) {
    this.rpcSeconds = new Histogram({
      name: 'cirrusmq_grpc_proxy_rpc_duration_seconds',
      help: 'Unary RPCs from arrival to answer, by method and the RocketMQ Code answered (GRPC_<status> when the call failed at the gRPC level).',
      labelNames: ['method', 'code'] as const,
      buckets: RPC_BUCKETS,
      registers: [this.registry],
    });
    this.streamsOpen = new Gauge({
      name: 'cirrusmq_grpc_proxy_streams_open',
      help: 'Streaming RPCs open now, by method (Telemetry: connected clients; ReceiveMessage: receives in flight, long polls included).',
      labelNames: ['method'] as const,
      registers: [this.registry],
    });
    this.streamsTotal = new Counter({
      name: 'cirrusmq_grpc_proxy_streams_total',
      help: 'Streaming RPCs started, by method.',
      labelNames: ['method'] as const,
      registers: [this.registry],
    });
    this.transactionChecks = new Counter({
      name: 'cirrusmq_grpc_proxy_transaction_checks_total',
      help: 'Transaction check-backs taken from the brokers, by result (forwarded: written to a producer as RecoverOrphanedTransactionCommand; dropped: no producer of its group connected, the broker offers it again).',
      labelNames: ['result'] as const,
      registers: [this.registry],
    });
    const polls = () => this.transactionCheckPolls();
    new Gauge({
      name: 'cirrusmq_grpc_proxy_transaction_check_polls',
      help: 'Check-back long polls open on the brokers now: one per producer group with a producer connected, per live master.',
      registers: [this.registry],
      collect() {
        this.set(polls());
      },
    });
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'cirrusmq_grpc_proxy_' });
  }
}
