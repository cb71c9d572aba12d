/**
 * AckMessage (RocketMQ's AckMessageActivity): each entry's receipt handle ends its lease on
 * the broker it names, one broker request per broker, concurrent calls' acks merged
 * (ack-merger.ts). Each entry gets its own status (an edited, forged, expired or already used
 * handle is INVALID_RECEIPT_HANDLE, as Apache answers), the response the shared one or
 * MULTIPLE_RESULTS when they differ.
 */
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';
import { RmqStatusError } from '../status.js';
import { AckMerger } from './ack-merger.js';
import { overallStatus, settleByBroker } from './handle-batches.js';
import type { LeaseRenewer } from './lease-renewer.js';
import { topicAndGroup } from './request-names.js';

interface AckEntryIn {
  message_id?: string;
  receipt_handle?: string;
}

export function ackMessage(ctx: ProxyContext, renewer: LeaseRenewer) {
  const merger = new AckMerger((addr, topic, group, handles) => ctx.brokers.get(addr).ack({ topic, group, receiptHandles: handles }));
  return unary('AckMessage', ctx.logger, async (request: any) => {
    const { topic, group } = topicAndGroup(request);
    const entries: AckEntryIn[] = request.entries ?? [];
    if (entries.length === 0) throw new RmqStatusError('BAD_REQUEST', 'entries must not be empty');
    const handles = entries.map((e) => e.receipt_handle ?? '');
    // A lease the proxy renews is acked under its latest handle.
    const current = await Promise.all(handles.map((h) => renewer.take(h)));
    const statuses = await settleByBroker(ctx.routes, topic, current, (addr, chunk) => merger.ack(addr, topic, group, chunk));
    return {
      status: overallStatus(statuses),
      entries: entries.map((e, i) => ({ message_id: e.message_id ?? '', receipt_handle: handles[i], status: statuses[i] })),
    };
  });
}
