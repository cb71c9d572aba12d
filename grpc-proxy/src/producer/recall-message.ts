/**
 * RecallMessage: cancels a delayed message before its delivery time. The recall handle a
 * DELAY send answered is the message id; the topic's brokers are asked for it, as the
 * gateway's DELETE …/schedule does (cancelScheduled).
 */
import { CirrusError, cancelScheduled, validateUserTopic } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { resourceName, unary } from '../rpc.js';
import { okStatus } from '../status.js';

const MESSAGE_ID = /^[0-9A-Fa-f]{1,64}$/;

export function recallMessage(ctx: ProxyContext) {
  return unary('RecallMessage', ctx.logger, async (req: any) => {
    const topic = validateUserTopic(resourceName(req.topic));
    const handle = String(req.recall_handle ?? '');
    if (!MESSAGE_ID.test(handle)) throw new CirrusError('INVALID_PARAMETER', 'recall_handle is not one a DELAY send answered');
    const info = await ctx.routes.get(topic);
    const targets = info.route.queueDatas.flatMap((qd) => {
      const addr = info.brokerAddrs.get(qd.brokerName);
      return addr ? [{ brokerName: qd.brokerName, addr }] : [];
    });
    const done = await cancelScheduled(ctx.brokers, targets, topic, handle);
    return { status: okStatus(), message_id: done.messageId };
  });
}
