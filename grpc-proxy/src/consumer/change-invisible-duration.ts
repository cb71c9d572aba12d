/**
 * ChangeInvisibleDuration (RocketMQ's ChangeInvisibleDurationActivity): the lease's deadline
 * moves to now + invisible_duration and the answer carries the new receipt handle (the old one
 * stops working; the clients swap it in). A consumer's nack is this call with its back-off, so
 * a duration under the broker's 1 s minimum is raised to 1 s: it still counts as a delivery,
 * never as the broker's release (0), which would hand the message back uncounted.
 * `suspend` is not honoured: every redelivery counts as an attempt.
 */
import { ConsumeLimits, receiptHandleBroker } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';
import { okStatus, RmqStatusError } from '../status.js';
import { brokerAddr } from './broker-addr.js';
import { entryStatus } from './handle-batches.js';
import type { LeaseRenewer } from './lease-renewer.js';
import { durationMs } from './receive-params.js';
import { topicAndGroup } from './request-names.js';

export function changeInvisibleDuration(ctx: ProxyContext, renewer: LeaseRenewer) {
  return unary('ChangeInvisibleDuration', ctx.logger, async (request: any) => {
    const { topic, group } = topicAndGroup(request);
    const asked = durationMs(request.invisible_duration);
    if (asked === undefined || asked < 0 || asked > ConsumeLimits.MAX_INVISIBLE_MS) {
      throw new RmqStatusError('ILLEGAL_INVISIBLE_TIME', `invisible_duration must be from 0 to ${ConsumeLimits.MAX_INVISIBLE_MS} ms`);
    }
    // A lease the proxy renews: from now on the client's own duration holds.
    const handle = await renewer.take(request.receipt_handle ?? '');
    const broker = receiptHandleBroker(handle);
    if (broker === undefined) throw new RmqStatusError('INVALID_RECEIPT_HANDLE', 'not a receipt handle');
    const addr = await brokerAddr(ctx.routes, topic, broker);
    if (!addr) throw new RmqStatusError('INVALID_RECEIPT_HANDLE', `the receipt handle names broker ${broker}, which serves no queue of ${topic}`);
    const invisibleMs = Math.max(asked, ConsumeLimits.MIN_INVISIBLE_MS);
    const res = await ctx.brokers.get(addr).changeInvisibility({ topic, group, entries: [{ receiptHandle: handle, invisibleMs }] });
    const r = res.results[0];
    if (r?.status === 'OK') return { status: okStatus(), receipt_handle: r.receiptHandle };
    const status = r ? entryStatus(r.error) : { code: 'INTERNAL_ERROR' as const, message: `broker ${broker} answered no result` };
    return { status, receipt_handle: '' };
  });
}
