/**
 * A ReceiveMessageRequest as the broker POP it becomes (RocketMQ's ReceiveMessageActivity):
 * the broker named by message_queue (its queue id is ignored: the broker's queues are popped
 * in turn, as Apache's proxy does, since the clients keep only queue 0 of each broker), the
 * batch clamped to the POP limit, the long poll clamped to the broker's and to the call's
 * deadline, the tag filter checked here so a bad one is a clear status.
 */
import { buildSubscriptionData, ConsumeLimits, type PopRequest, validateGroup, validateTopic } from '@cirrusmq/client/protocol';
import { type DurationPb, msOf } from '../duration.js';
import { RmqStatusError } from '../status.js';
import { checked } from './request-names.js';

/**
 * auto_renew (PushConsumer) sends no invisible_duration: its leases are this long (Apache's
 * defaultInvisibleTimeMills), renewed by the proxy while the client holds the message.
 */
export const AUTO_RENEW_INVISIBLE_MS = 60_000;

/** Left between the end of the long poll and the call's deadline, for the answer to reach the client. */
export const DEADLINE_MARGIN_MS = 1_000;

/** The long poll when the request names none (Apache: the deadline less the request timeout, up to 20 s). */
export const DEFAULT_LONG_POLLING_MS = ConsumeLimits.MAX_WAIT_MS;

export interface ReceiveParams {
  brokerName: string;
  pop: PopRequest;
  /** The proxy keeps the leases alive until the client ends them (lease-renewer.ts). */
  autoRenew: boolean;
}

/** A Duration's ms, undefined when the field is absent (proto-loader gives an unset message field as null). */
export function durationMs(d: Partial<DurationPb> | null | undefined): number | undefined {
  return d ? msOf(d, 0) : undefined;
}

/**
 * @param deadlineMs the call's deadline (epoch ms; Infinity when the client set none)
 * @param now epoch ms
 */
export function receiveParams(request: any, deadlineMs: number, now: number): ReceiveParams {
  const group = checked(() => validateGroup(request?.group?.name ?? ''), 'ILLEGAL_CONSUMER_GROUP');
  const mq = request?.message_queue;
  const topic = checked(() => validateTopic(mq?.topic?.name ?? ''), 'ILLEGAL_TOPIC');
  const brokerName: string = mq?.broker?.name ?? '';
  if (!brokerName) throw new RmqStatusError('BAD_REQUEST', 'message_queue.broker.name is required');

  const batch = Number(request.batch_size ?? 0);
  if (!Number.isInteger(batch) || batch <= 0) throw new RmqStatusError('BAD_REQUEST', `batch_size must be positive, got ${request.batch_size}`);

  let invisibleMs = durationMs(request.invisible_duration);
  if (invisibleMs === undefined) {
    if (!request.auto_renew) throw new RmqStatusError('ILLEGAL_INVISIBLE_TIME', 'invisible_duration is required unless auto_renew is set');
    invisibleMs = AUTO_RENEW_INVISIBLE_MS;
  }
  if (invisibleMs < ConsumeLimits.MIN_INVISIBLE_MS || invisibleMs > ConsumeLimits.MAX_INVISIBLE_MS) {
    throw new RmqStatusError(
      'ILLEGAL_INVISIBLE_TIME',
      `invisible_duration must be from ${ConsumeLimits.MIN_INVISIBLE_MS} ms to ${ConsumeLimits.MAX_INVISIBLE_MS} ms, got ${invisibleMs} ms`,
    );
  }

  const asked = durationMs(request.long_polling_timeout) ?? DEFAULT_LONG_POLLING_MS;
  if (asked < 0) throw new RmqStatusError('ILLEGAL_POLLING_TIME', `long_polling_timeout must not be negative, got ${asked} ms`);
  const waitMs = Math.max(0, Math.min(asked, ConsumeLimits.MAX_WAIT_MS, deadlineMs - now - DEADLINE_MARGIN_MS));

  const pop: PopRequest = { topic, group, max: Math.min(batch, ConsumeLimits.MAX_RECEIVE), invisibleMs, waitMs: Math.floor(waitMs) };
  const filter = filterOf(request.filter_expression);
  if (filter !== undefined) pop.filter = filter;
  return { brokerName, pop, autoRenew: Boolean(request.auto_renew) };
}

/** A TAG expression (absent or `*`: every message); SQL92 is refused, the brokers filter by tag only. */
export function filterOf(f: { type?: string; expression?: string } | null | undefined): string | undefined {
  if (!f) return undefined;
  if (f.type === 'SQL') throw new RmqStatusError('UNSUPPORTED', 'SQL92 filter expressions are not supported; filter by TAG');
  const expression = (f.expression ?? '').trim();
  if (expression === '' || expression === '*') return undefined;
  checked(() => buildSubscriptionData(expression), 'ILLEGAL_FILTER_EXPRESSION');
  return expression;
}
