/**
 * POST /v1/timer/cancel?topic={topic}&messageId={id} (RocketMQ 5's RecallMessage): cancels a
 * scheduled message of this broker before it fires.
 *
 *   200 {brokerName, messageId, deliverAt}   cancelled: it will not be delivered
 *   404 TIMER_NOT_FOUND                      no pending timer with that id here
 *   409 TIMER_ALREADY_FIRED                  it is in its queue already
 *   503 SERVICE_NOT_AVAILABLE                no timer store (yet)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, validateTopic } from '@cirrusmq/client/protocol';
import type { BrokerServerContext } from '../server/context';
import { sendJson } from '../server/http-util';

export const TIMER_CANCEL_PATH = '/v1/timer/cancel';

export function timerCancelProcessor(ctx: BrokerServerContext) {
  return async (_req: IncomingMessage, res: ServerResponse, query: string): Promise<void> => {
    const timer = ctx.timerStore;
    if (!timer) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} keeps no timers`);
    const params = new URLSearchParams(query);
    const topic = validateTopic(params.get('topic') ?? '');
    const messageId = params.get('messageId') ?? '';
    if (!/^[0-9A-Fa-f]{1,64}$/.test(messageId)) throw new CirrusError('INVALID_PARAMETER', 'messageId must be a message id (hex)');
    const done = await timer.cancel(topic, messageId);
    sendJson(res, 200, { brokerName: ctx.brokerName, ...done });
  };
}
