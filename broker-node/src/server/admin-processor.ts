/** GET /healthz and GET /metrics (Prometheus text format 0.0.4). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerServerContext } from './context';
import { sendJson } from './http-util';

export function healthProcessor(ctx: BrokerServerContext) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    sendJson(res, 200, { status: 'ok', brokerName: ctx.brokerName });
  };
}

export function metricsProcessor(ctx: BrokerServerContext) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const s = ctx.store.stats();
    const label = `{broker="${ctx.brokerName}"}`;
    const lines = [
      '# HELP cirrusmq_broker_put_messages_total Messages stored since the broker started.',
      '# TYPE cirrusmq_broker_put_messages_total counter',
      `cirrusmq_broker_put_messages_total${label} ${s.putMessagesTotal}`,
      '# HELP cirrusmq_broker_put_bytes_total Record bytes stored since the broker started.',
      '# TYPE cirrusmq_broker_put_bytes_total counter',
      `cirrusmq_broker_put_bytes_total${label} ${s.putBytesTotal}`,
      '# HELP cirrusmq_commitlog_min_offset First CommitLog offset kept.',
      '# TYPE cirrusmq_commitlog_min_offset gauge',
      `cirrusmq_commitlog_min_offset${label} ${s.commitLogMinOffset}`,
      '# HELP cirrusmq_commitlog_max_offset CommitLog offset the next record is written at.',
      '# TYPE cirrusmq_commitlog_max_offset gauge',
      `cirrusmq_commitlog_max_offset${label} ${s.commitLogMaxOffset}`,
      '',
    ];
    const body = lines.join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}
