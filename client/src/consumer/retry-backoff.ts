/**
 * How long a message a PushConsumer's listener failed stays invisible before its next
 * delivery (RocketMQ 5's ExponentialBackoffRetryPolicy): the invisibility is the retry delay,
 * so no timer or retry topic is needed.
 */
import { ConsumeLimits } from '../api/consume-types.js';

export interface RetryBackoff {
  initialMs: number;
  maxMs: number;
  multiplier: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { initialMs: 1_000, maxMs: 60_000, multiplier: 2 };

/** The invisibility after the `deliveryAttempt`-th delivery failed (1 = the first). */
export function retryDelayMs(backoff: RetryBackoff, deliveryAttempt: number): number {
  const raw = backoff.initialMs * backoff.multiplier ** Math.max(0, deliveryAttempt - 1);
  const capped = Math.min(Number.isFinite(raw) ? raw : backoff.maxMs, backoff.maxMs);
  return Math.round(Math.min(Math.max(capped, ConsumeLimits.MIN_INVISIBLE_MS), ConsumeLimits.MAX_INVISIBLE_MS));
}
