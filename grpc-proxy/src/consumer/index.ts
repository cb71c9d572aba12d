/**
 * The consumer RPCs over the brokers' POP (RocketMQ's consumer activities): ReceiveMessage,
 * AckMessage, ChangeInvisibleDuration, ForwardMessageToDeadLetterQueue.
 */
import { BrokerClients } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import type { ConsumerRpcs } from '../rpc-types.js';
import { ackMessage } from './ack-message.js';
import { changeInvisibleDuration } from './change-invisible-duration.js';
import { forwardMessageToDeadLetterQueue } from './forward-to-dlq.js';
import { LeaseRenewer } from './lease-renewer.js';
import { AUTO_RENEW_INVISIBLE_MS } from './receive-params.js';
import { receiveMessage } from './receive-message.js';

/**
 * Long polls get their own connections: each holds one for up to 20 s, and a pool they share
 * with acks (64 per broker) would make every ack wait behind them once that many clients poll.
 */
const LONG_POLL_SOCKETS_PER_BROKER = 1024;

export function consumerRpcs(ctx: ProxyContext): ConsumerRpcs {
  const pops = new BrokerClients({ maxSockets: LONG_POLL_SOCKETS_PER_BROKER });
  const renewer = new LeaseRenewer(ctx.brokers, (clientId) => ctx.sessions.get(clientId) !== undefined, ctx.logger, { invisibleMs: AUTO_RENEW_INVISIBLE_MS });
  return {
    ReceiveMessage: receiveMessage(ctx, pops, renewer),
    AckMessage: ackMessage(ctx, renewer),
    ChangeInvisibleDuration: changeInvisibleDuration(ctx, renewer),
    ForwardMessageToDeadLetterQueue: forwardMessageToDeadLetterQueue(ctx, renewer),
  };
}
