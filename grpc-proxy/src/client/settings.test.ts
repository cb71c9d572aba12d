/**
 * The settings the proxy answers, encoded as the proxy sends them and decoded by the official
 * Node client's own classes: they must pass its asserts (an exponential backoff policy), set
 * its body limit, and carry the group's FIFO flag and attempts to a consumer.
 */
import { ClientType } from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb';
import { TelemetryCommand } from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/service_pb';
import { Endpoints, ExponentialBackoffRetryPolicy, PublishingSettings, PushSubscriptionSettings } from 'rocketmq-client-nodejs';
import { describe, expect, it } from 'vitest';
import { messagingServiceDefinition } from '../proto';
import { consumerSettings, producerSettings } from './settings';

/** Through the wire: the Telemetry response serializer of the served definition, then the client's decoder. */
function overTheWire(settings: object) {
  const bytes = messagingServiceDefinition().Telemetry!.responseSerialize({ status: { code: 'OK', message: 'OK' }, settings });
  return TelemetryCommand.deserializeBinary(new Uint8Array(bytes)).getSettings()!;
}

const group = { group: 'g', retryMaxTimes: 5, orderly: true, consumeFrom: 'latest' as const, createdAt: 0 };

describe('the settings answered on Telemetry', () => {
  it('give a producer an exponential backoff and the service body limit, which the official client accepts', () => {
    const client = { client_type: 'PRODUCER', publishing: { topics: [{ name: 't', resource_namespace: '' }], validate_message_type: true } };
    const pb = overTheWire(producerSettings(client, { maxBodySize: 4 * 1024 * 1024, producerMaxAttempts: 3 }));
    const settings = new PublishingSettings(
      '',
      'id',
      new Endpoints('127.0.0.1:8081'),
      ExponentialBackoffRetryPolicy.immediatelyRetryPolicy(3),
      3000,
      new Set(['t']),
    );
    settings.sync(pb); // asserts "strategy must be exponential backoff"
    expect(settings.maxBodySizeBytes).toBe(4 * 1024 * 1024);
    expect(settings.isValidateMessageType()).toBe(true);
    expect(pb.getBackoffPolicy()!.getMaxAttempts()).toBe(3);
  });

  it('give a consumer the group FIFO flag, retryMaxTimes + 1 attempts, a batch of 32 and a 20 s long poll', () => {
    const client = { client_type: 'PUSH_CONSUMER', subscription: { group: { name: 'g', resource_namespace: '' }, subscriptions: [] } };
    const pb = overTheWire(consumerSettings(client, group));
    expect(pb.getClientType()).toBe(ClientType.PUSH_CONSUMER);
    const settings = new PushSubscriptionSettings('', 'id', ClientType.PUSH_CONSUMER, new Endpoints('127.0.0.1:8081'), 'g', 3000, new Map());
    settings.sync(pb);
    expect(settings.isFifo()).toBe(true);
    expect(settings.getRetryPolicy()!.getMaxAttempts()).toBe(6);
    expect(pb.getSubscription()!.getReceiveBatchSize()).toBe(32);
    expect(pb.getSubscription()!.getLongPollingTimeout()!.getSeconds()).toBe(20);
    const notFifo = overTheWire(consumerSettings(client, { ...group, orderly: false }));
    expect(notFifo.getSubscription()!.getFifo()).toBe(false);
  });
});
