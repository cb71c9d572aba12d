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
import { receiveMessage } from './receive-message.js';

/**
 * Long polls get their own connections: each holds one for up to 20 s, and a pool they share
 * with acks (64 per broker) would make every ack wait behind them once that many clients poll.
 */
const LONG_POLL_SOCKETS_PER_BROKER = 1024;

export function consumerRpcs(ctx: ProxyContext): ConsumerRpcs {
  const pops = new BrokerClients({ maxSockets: LONG_POLL_SOCKETS_PER_BROKER });
  return {
    ReceiveMessage: receiveMessage(ctx, pops),
    AckMessage: ackMessage(ctx),
    ChangeInvisibleDuration: changeInvisibleDuration(ctx),
    ForwardMessageToDeadLetterQueue: forwardMessageToDeadLetterQueue(ctx),
  };
}
