/**
 * GET /healthz, GET /metrics (Prometheus text format 0.0.4; histograms in broker-metrics.ts), GET /v1/stats (JSON), and
 * POST /v1/admin/topics/{topic}/delete (RocketMQ's deleteTopicInBroker).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, validateTopic } from '@cirrusmq/client/protocol';
import type { BrokerMetrics } from './broker-metrics';
import type { BrokerServerContext } from './context';
import { readBody, sendJson } from './http-util';

export const ADMIN_TOPICS_PREFIX = '/v1/admin/topics/';
const DELETE_SUFFIX = '/delete';

/**
 * POST /v1/admin/topics/{topic}/delete, body {"createdAt": n} (optional: the NameServer's
 * incarnation being deleted, whose sends and reads answer TOPIC_NOT_FOUND here afterwards).
 * Deletes the topic's queues and index entries on this broker; answers once the tombstone is
 * on disk: 200 {topic, brokerName, deletedBelow, queues}. Idempotent: a topic with no queues
 * here answers queues 0.
 */
export function deleteTopicProcessor(ctx: BrokerServerContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const rest = (q < 0 ? url : url.slice(0, q)).slice(ADMIN_TOPICS_PREFIX.length);
    if (!rest.endsWith(DELETE_SUFFIX)) throw new CirrusError('NOT_FOUND', `no route for POST ${url}`);
    let topic: string;
    try {
      topic = validateTopic(decodeURIComponent(rest.slice(0, -DELETE_SUFFIX.length)));
    } catch (e) {
      if (e instanceof CirrusError) throw e;
      throw new CirrusError('INVALID_TOPIC', 'topic is not valid percent-encoding');
    }
    const body = await readBody(req, 4096);
    let createdAt: number | undefined;
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new CirrusError('INVALID_JSON', 'body is not valid JSON');
      }
      const c = (parsed as { createdAt?: unknown } | null)?.createdAt;
      if (c !== undefined && (!Number.isSafeInteger(c) || (c as number) < 0))
        throw new CirrusError('INVALID_PARAMETER', 'createdAt must be a non-negative integer');
      createdAt = c as number | undefined;
    }
    if (!ctx.deleteTopic || !ctx.store.isOpen()) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} cannot delete topics now`);
    const result = await ctx.deleteTopic(topic, createdAt);
    sendJson(res, 200, { ...result, brokerName: ctx.brokerName });
  };
}

export function healthProcessor(ctx: BrokerServerContext) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    // pid: the launcher tells its own child from another process on the same port.
    sendJson(res, 200, { status: 'ok', brokerName: ctx.brokerName, pid: process.pid });
  };
}

/** GET /v1/stats: the store's figures as JSON (the gateway's /v1/cluster merges them), plus the process RSS. */
export function statsProcessor(ctx: BrokerServerContext) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    sendJson(res, 200, { brokerName: ctx.brokerName, ...ctx.store.stats(), tier: ctx.store.tierStats(), rssBytes: process.memoryUsage.rss() });
  };
}

type MetricType = 'counter' | 'gauge' | 'summary';

/** The hand-written figures first (names the alarms know), then the registry's histograms and per-topic counters. */
export function metricsProcessor(ctx: BrokerServerContext, metrics: BrokerMetrics) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const s = ctx.store.stats();
    const label = `{broker="${ctx.brokerName}"}`;
    const lines: string[] = [];
    const metric = (name: string, type: MetricType, help: string, samples: [labels: string, value: number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    const q = (quantile: string) => `{broker="${ctx.brokerName}",quantile="${quantile}"}`;
    metric('cirrusmq_broker_put_messages_total', 'counter', 'Messages stored since the broker started.', [[label, s.putMessagesTotal]]);
    metric('cirrusmq_broker_put_bytes_total', 'counter', 'Record bytes stored since the broker started.', [[label, s.putBytesTotal]]);
    metric('cirrusmq_broker_put_messages_per_second', 'gauge', 'Messages stored per second over the last 10 s.', [[label, s.putMessagesPerSec]]);
    metric('cirrusmq_broker_put_bytes_per_second', 'gauge', 'Record bytes stored per second over the last 10 s.', [[label, s.putBytesPerSec]]);
    metric('cirrusmq_commitlog_min_offset', 'gauge', 'First CommitLog offset kept.', [[label, s.commitLogMinOffset]]);
    metric('cirrusmq_commitlog_max_offset', 'gauge', 'CommitLog offset the next record is written at.', [[label, s.commitLogMaxOffset]]);
    metric('cirrusmq_commitlog_flushed_offset', 'gauge', 'CommitLog offset up to which everything is on disk.', [[label, s.commitLogFlushedOffset]]);
    metric('cirrusmq_store_flush_total', 'counter', `CommitLog fdatasyncs (${s.flushDiskType}).`, [[label, s.flushTotal]]);
    metric('cirrusmq_store_flush_latency_seconds', 'summary', 'CommitLog fdatasync latency over the last 1024 flushes.', [
      [q('0.5'), s.flushLatencyP50Ms / 1000],
      [q('0.99'), s.flushLatencyP99Ms / 1000],
      [q('1'), s.flushLatencyMaxMs / 1000],
    ]);
    metric('cirrusmq_store_flush_disk_timeout_total', 'counter', 'Sends answered FLUSH_DISK_TIMEOUT (SYNC_FLUSH).', [[label, s.flushDiskTimeoutTotal]]);
    metric('cirrusmq_store_checkpoint_physic_offset', 'gauge', 'CommitLog flushed offset in the last checkpoint.', [[label, s.checkpointPhysicOffset]]);
    const t = ctx.store.tierStats();
    if (t) {
      metric('cirrusmq_tier_segments', 'gauge', 'CommitLog segments in the tier (S3 or its local folder).', [[label, t.tieredSegments]]);
      metric('cirrusmq_tier_max_offset', 'gauge', 'End of the last tiered segment.', [[label, t.tieredMaxOffset]]);
      metric('cirrusmq_tier_lag_bytes', 'gauge', 'CommitLog bytes not yet in tiered segments (the active segment included).', [[label, t.tieringLagBytes]]);
      metric('cirrusmq_tier_lag_seconds', 'gauge', 'How long the oldest sealed segment has waited for its upload.', [[label, t.tieringLagSeconds]]);
      metric('cirrusmq_tier_uploaded_bytes_total', 'counter', 'Segment bytes uploaded.', [[label, t.bytesUploaded]]);
      metric('cirrusmq_tier_upload_bytes_per_second', 'gauge', 'Throughput of the last segment upload.', [[label, t.lastUploadBytesPerSec]]);
      metric('cirrusmq_tier_upload_failures_total', 'counter', 'Failed tiering passes (retried with backoff).', [[label, t.uploadFailures]]);
      metric('cirrusmq_tier_cache_hits_total', 'counter', 'Cold reads served from the block cache.', [[label, t.cacheHits]]);
      metric('cirrusmq_tier_cache_misses_total', 'counter', 'Cold reads that fetched a block.', [[label, t.cacheMisses]]);
      metric('cirrusmq_tier_cache_hit_ratio', 'gauge', 'Block cache hits over lookups.', [[label, t.cacheHitRatio]]);
      metric('cirrusmq_tier_cache_bytes', 'gauge', 'Bytes held by the block cache.', [[label, t.cacheBytes]]);
      const r = (kind: string) => `{broker="${ctx.brokerName}",request="${kind}"}`;
      metric('cirrusmq_tier_requests_total', 'counter', 'Object store requests by kind (S3 PUT, UploadPart, GET, LIST, DELETE; errors).', [
        [r('put'), t.s3Requests.put],
        [r('upload_part'), t.s3Requests.uploadPart],
        [r('get'), t.s3Requests.get],
        [r('list'), t.s3Requests.list],
        [r('delete'), t.s3Requests.delete],
        [r('error'), t.s3Requests.errors],
      ]);
      if (t.wal) {
        metric('cirrusmq_s3_wal_pending_bytes', 'gauge', 'Durability s3: bytes appended but not yet in a write-ahead chunk.', [[label, t.wal.pendingBytes]]);
        metric('cirrusmq_s3_wal_chunks_total', 'counter', 'Durability s3: write-ahead chunks stored.', [[label, t.wal.chunksUploaded]]);
        metric('cirrusmq_s3_wal_upload_failures_total', 'counter', 'Durability s3: failed chunk uploads (retried).', [[label, t.wal.uploadFailures]]);
        metric('cirrusmq_s3_wal_ack_timeouts_total', 'counter', 'Durability s3: sends answered FLUSH_S3_TIMEOUT.', [[label, t.wal.ackTimeouts]]);
      }
    }
    if (ctx.transactions) lines.push(ctx.transactions.metricsText(ctx.brokerName));
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the broker process.', [[label, process.memoryUsage.rss()]]);
    lines.push('', await metrics.text());
    const body = lines.join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}
