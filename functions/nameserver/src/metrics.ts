/**
 * The NameServer's GET /metrics (Prometheus text): requests and their latency by route (the
 * route's pattern, e.g. /v1/topics/:topic/route, never the raw path: topic names would make a
 * series each), and the brokers the route table holds, alive or expired, read at each scrape.
 *
 * As a Lambda, each instance counts only the requests it served since its cold start (CloudWatch
 * has the function's totals); the broker count is the table's, the same from any instance.
 */
import type { MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteTable } from './route-table/route-table';

/** A route-table call: in memory (~0.1 ms) to DynamoDB (~10 ms) and its retries. */
export const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** The route of a request no route matched (404): one series for every unknown path. */
const UNMATCHED = 'unmatched';

export class NameServerMetrics {
  /** Per app (tests build several in one process), not prom-client's global registry. */
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route'>;

  constructor(routeTable: Pick<RouteTable, 'listBrokers'>) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'cirrusmq_nameserver_requests_total',
      help: 'Requests answered, by method, route pattern and HTTP status.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: 'cirrusmq_nameserver_request_duration_seconds',
      help: 'Requests from arrival to answer, by method and route pattern.',
      labelNames: ['method', 'route'] as const,
      buckets: REQUEST_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'cirrusmq_nameserver_brokers',
      help: 'Brokers registered in the route table, by state (alive: heartbeat within its timeout; expired: kept until swept).',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        let alive = 0;
        let expired = 0;
        for (const b of await routeTable.listBrokers()) b.alive ? alive++ : expired++;
        this.set({ state: 'alive' }, alive);
        this.set({ state: 'expired' }, expired);
      },
    });
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident set size.',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  /** Counts and times every request, errors and 404s included. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const t0 = performance.now();
      await next();
      // After next(), routePath is the handler's pattern; the catch-all's when none matched.
      const route = c.res.status === 404 && c.req.routePath === '/*' ? UNMATCHED : c.req.routePath;
      const method = c.req.method;
      this.requests.inc({ method, route, status: String(c.res.status) });
      this.duration.observe({ method, route }, (performance.now() - t0) / 1000);
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
