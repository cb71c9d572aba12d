/**
 * The settings the proxy answers a client's Telemetry settings with (Apache's
 * GrpcClientSettingsManager): the client's own, plus what the service decides. The official
 * clients need parts of it to work at all: a producer asserts an exponential backoff policy
 * and takes publishing.max_body_size as its limit (0 would refuse every send).
 */
import type { SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import type { ProxyConfig } from '../config.js';
import { durationOf } from '../duration.js';

/** Apache's grpcClientProducerBackoff{Initial,Max}Millis and multiplier. */
const PRODUCER_BACKOFF = { initial: durationOf(10), max: durationOf(1_000), multiplier: 2 };
/** As the SDK's PushConsumer (DEFAULT_RETRY_BACKOFF): a failed message returns after 1 s, 2 s, 4 s... up to 60 s. */
const CONSUMER_BACKOFF = { initial: durationOf(1_000), max: durationOf(60_000), multiplier: 2 };
/** Apache's defaults for every consumer (MAX_MSG_NUMS_FOR_POP_REQUEST, grpcClientConsumerMaxLongPollingTimeoutMillis). */
export const RECEIVE_BATCH_SIZE = 32;
export const LONG_POLLING_TIMEOUT_MS = 20_000;

function base(client: any) {
  return {
    client_type: client.client_type,
    access_point: client.access_point,
    request_timeout: client.request_timeout,
    user_agent: client.user_agent,
    metric: { on: false },
  };
}

export function producerSettings(client: any, config: Pick<ProxyConfig, 'maxBodySize' | 'producerMaxAttempts'>) {
  const publishing = client.publishing ?? {};
  return {
    ...base(client),
    backoff_policy: { max_attempts: config.producerMaxAttempts, exponential_backoff: PRODUCER_BACKOFF },
    publishing: {
      topics: publishing.topics ?? [],
      max_body_size: config.maxBodySize,
      validate_message_type: publishing.validate_message_type ?? true,
    },
  };
}

export function consumerSettings(client: any, group: SubscriptionGroupConfig) {
  const subscription = client.subscription ?? {};
  return {
    ...base(client),
    // RocketMQ's maxAttempts counts deliveries: the first one plus retryMaxTimes redeliveries.
    backoff_policy: { max_attempts: group.retryMaxTimes + 1, exponential_backoff: CONSUMER_BACKOFF },
    subscription: {
      group: subscription.group,
      subscriptions: subscription.subscriptions ?? [],
      fifo: group.orderly,
      receive_batch_size: RECEIVE_BATCH_SIZE,
      long_polling_timeout: durationOf(LONG_POLLING_TIMEOUT_MS),
    },
  };
}
