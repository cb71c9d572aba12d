/**
 * Cancel a scheduled message before it fires (RocketMQ 5's RecallMessage), asking every broker
 * of its topic: a send's caller knows the message id, not which broker took it. The gateway's
 * DELETE …/schedule and the gRPC proxy's RecallMessage share this policy: the broker holding it
 * pending answers; else TIMER_ALREADY_FIRED when one has it in its queue; else TIMER_NOT_FOUND,
 * or BROKER_UNAVAILABLE when some broker did not answer (it may hold it).
 */
import { CirrusError, toCirrusError } from '../errors.js';
import type { BrokerClients } from './broker-client.js';

export interface ScheduleCancelled {
  messageId: string;
  brokerName: string;
  /** When it would have been delivered, epoch ms. */
  deliverAt: number;
}

export async function cancelScheduled(
  brokers: BrokerClients,
  targets: readonly { brokerName: string; addr: string }[],
  topic: string,
  messageId: string,
): Promise<ScheduleCancelled> {
  if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
  const settled = await Promise.allSettled(targets.map((b) => brokers.get(b.addr).cancelTimer(topic, messageId)));
  const done = settled.find((s) => s.status === 'fulfilled');
  if (done) return done.value;
  const errors = settled.map((s) => toCirrusError((s as PromiseRejectedResult).reason));
  const fired = errors.find((e) => e.code === 'TIMER_ALREADY_FIRED');
  if (fired) throw fired;
  const other = errors.find((e) => e.code !== 'TIMER_NOT_FOUND');
  if (other)
    throw other.status < 500 ? other : new CirrusError('BROKER_UNAVAILABLE', `message ${messageId} is pending on no broker that answered: ${other.message}`);
  throw new CirrusError('TIMER_NOT_FOUND', `no pending scheduled message ${messageId} in topic ${topic}`);
}
