/**
 * The gateway's figures, served at GET /metrics in Prometheus text format: the counters that
 * came before (names unchanged: alarms and tests read them, unlabelled), then a prom-client
 * registry with the send latency histogram (per HTTP request) and messages and bytes sent per
 * topic. A Lambda gateway answers for its own instance only: each instance counts from its start.
 */
import type { PreparedBatch, SendOutcome } from '@cirrusmq/client';
import { MAX_TOPIC_SERIES, OTHER_TOPICS, type TopicCounts, TopicSeries } from '@cirrusmq/client/server';
import type { MiddlewareHandler } from 'hono';
import { Counter, Histogram, Registry } from 'prom-client';

/** One HTTP send: a route-cache hit and a broker write (~ms) to a NameServer lookup and retries (seconds). */
export const SEND_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One receive: a broker read (~ms) to a long poll that waits up to 20 s. */
export const RECEIVE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 25];

export class GatewayMetrics {
  messagesSent = 0;
  messagesFailed = 0;
  sendRequests = 0;
  /** Oneway requests (also in sendRequests): answered 202 once the route was found, sent after. */
  onewayRequests = 0;
  onewayMessagesAccepted = 0;
  /** Oneway messages that failed after their 202 (also in messagesFailed; each failure is logged). */
  onewayMessagesFailed = 0;
  /** The consume API (routes/consume.ts). */
  receiveRequests = 0;
  messagesReceived = 0;
  /** Leased by a receive but not answered (a long poll that lost the race, an answer over the size cap), released at once. */
  messagesReleased = 0;
  /** Of those, the ones a broker did not release: they come back when their invisibility ends. */
  releaseFailures = 0;
  ackRequests = 0;
  acksOk = 0;
  acksFailed = 0;
  /** Ack calls made to brokers: fewer than ackRequests when one turn's acks of a (broker, topic, group) went as one (turn-batcher.ts). */
  brokerAckCalls = 0;
  /** Commit and rollback requests answered, and the batch-end calls made to brokers for them (one per broker and turn). */
  transactionEnds = 0;
  brokerEndCalls = 0;
  messagesRedriven = 0;

  /** Per instance (tests build several gateways in one process), not prom-client's global registry. */
  readonly registry = new Registry();
  /** POST /v1/topics/{topic}/messages, request to answer: sync includes the broker's ack, oneway only the route lookup. */
  readonly sendSeconds: Histogram<'mode' | 'status'>;
  /** POST .../receive, request to answer (long polling included), by outcome: messages, empty, error. */
  readonly receiveSeconds: Histogram<'outcome'>;
  private readonly topicSent = new TopicSeries();

  constructor() {
    this.sendSeconds = new Histogram({
      name: 'cirrusmq_gateway_send_duration_seconds',
      help: 'Send requests from arrival to answer, by mode (sync, oneway) and HTTP status.',
      labelNames: ['mode', 'status'] as const,
      buckets: SEND_BUCKETS,
      registers: [this.registry],
    });
    this.receiveSeconds = new Histogram({
      name: 'cirrusmq_gateway_receive_duration_seconds',
      help: 'Receive requests from arrival to answer (long polling included), by outcome (messages, empty, error).',
      labelNames: ['outcome'] as const,
      buckets: RECEIVE_BUCKETS,
      registers: [this.registry],
    });
    const sent = this.topicSent;
    const perTopic = (name: string, help: string, field: keyof TopicCounts) =>
      new Counter({
        name,
        help: `${help} (topics past the first ${MAX_TOPIC_SERIES} under topic="${OTHER_TOPICS}").`,
        labelNames: ['topic'] as const,
        registers: [this.registry],
        // Read at scrape time from the Map the send path bumps once per request.
        collect() {
          this.reset();
          for (const [topic, t] of sent) this.inc({ topic }, t[field]);
        },
      });
    perTopic('cirrusmq_gateway_topic_messages_sent_total', 'Messages acknowledged by a broker, per topic', 'messages');
    perTopic('cirrusmq_gateway_topic_bytes_sent_total', 'Body bytes of the messages acknowledged by a broker, per topic', 'bytes');
  }

  /** Counts a batch's outcomes (sent and failed, and per topic what was sent); returns the failures. */
  recordOutcomes(batch: PreparedBatch, outcomes: readonly SendOutcome[]): number {
    let failed = 0;
    let bytes = 0;
    for (let i = 0; i < outcomes.length; i++) {
      if (outcomes[i]!.status === 'FAILED') {
        failed++;
        continue;
      }
      const m = batch.prepared[i];
      if (m) bytes += m.bodyLength ?? (typeof m.body === 'string' ? Buffer.byteLength(m.body) : m.body.length);
    }
    const sent = outcomes.length - failed;
    this.messagesSent += sent;
    this.messagesFailed += failed;
    if (sent > 0) this.topicSent.counts(batch.topic).messages += sent;
    if (bytes > 0) this.topicSent.counts(batch.topic).bytes += bytes;
    return failed;
  }

  /** Times each POST of messages into sendSeconds, whatever its answer (errors included). */
  sendTimer(): MiddlewareHandler {
    return async (c, next) => {
      if (c.req.method !== 'POST') return next();
      const t0 = performance.now();
      await next();
      this.observeSend(c.req.query('mode'), c.res.status, t0);
    };
  }

  /** One send request into sendSeconds: `mode` as the query gave it, `t0` its performance.now() on arrival. */
  observeSend(query: string | undefined, status: number, t0: number): void {
    const mode = query ?? 'sync';
    // An invalid mode is a 400 of its own; its text is not a label (unbounded).
    this.sendSeconds.observe({ mode: mode === 'sync' || mode === 'oneway' ? mode : 'invalid', status: String(status) }, (performance.now() - t0) / 1000);
  }

  async render(nameServerCalls: number): Promise<string> {
    const rss = process.memoryUsage.rss();
    return [
      metric('cirrusmq_gateway_send_requests_total', 'counter', 'Send requests answered (sync and oneway)', this.sendRequests),
      metric('cirrusmq_gateway_messages_sent_total', 'counter', 'Messages acknowledged by a broker', this.messagesSent),
      metric('cirrusmq_gateway_messages_failed_total', 'counter', 'Messages that could not be sent', this.messagesFailed),
      metric('cirrusmq_gateway_oneway_requests_total', 'counter', 'Oneway send requests accepted (202)', this.onewayRequests),
      metric('cirrusmq_gateway_oneway_messages_accepted_total', 'counter', 'Messages accepted by oneway requests', this.onewayMessagesAccepted),
      metric('cirrusmq_gateway_oneway_messages_failed_total', 'counter', 'Oneway messages that failed after their 202', this.onewayMessagesFailed),
      metric('cirrusmq_gateway_receive_requests_total', 'counter', 'Receive requests answered', this.receiveRequests),
      metric('cirrusmq_gateway_messages_received_total', 'counter', 'Messages answered to receives', this.messagesReceived),
      metric('cirrusmq_gateway_messages_released_total', 'counter', 'Messages leased for a receive but not answered, released at once', this.messagesReleased),
      metric('cirrusmq_gateway_release_failures_total', 'counter', 'Messages a broker did not release (back after their invisibility)', this.releaseFailures),
      metric('cirrusmq_gateway_ack_requests_total', 'counter', 'Ack requests answered', this.ackRequests),
      metric('cirrusmq_gateway_acks_ok_total', 'counter', 'Receipt handles acked', this.acksOk),
      metric('cirrusmq_gateway_acks_failed_total', 'counter', 'Receipt handles whose ack failed (invalid, expired, broker unavailable)', this.acksFailed),
      metric('cirrusmq_gateway_broker_ack_calls_total', 'counter', 'Ack calls made to brokers (one per broker, topic, group and turn)', this.brokerAckCalls),
      metric('cirrusmq_gateway_transaction_ends_total', 'counter', 'Commit and rollback requests', this.transactionEnds),
      metric('cirrusmq_gateway_broker_end_calls_total', 'counter', 'Transaction end calls made to brokers (one per broker and turn)', this.brokerEndCalls),
      metric('cirrusmq_gateway_messages_redriven_total', 'counter', 'Dead letters sent back to their topics', this.messagesRedriven),
      metric('cirrusmq_gateway_nameserver_calls_total', 'counter', 'Calls to the NameServer (route lookups and admin)', nameServerCalls),
      metric('process_resident_memory_bytes', 'gauge', 'Resident set size', rss),
      '\n',
      await this.registry.metrics(),
    ].join('');
  }
}

function metric(name: string, type: 'counter' | 'gauge', help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
}
