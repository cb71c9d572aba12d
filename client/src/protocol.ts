/**
 * `@cirrusmq/client/protocol`: what the broker, the NameServer and the gateway share with the
 * SDK (record and send-batch codecs, wire types, validation, errors, the NameServer and broker
 * clients, the route cache, filters, message ids). One copy of the protocol, so a runtime and
 * the SDK cannot disagree on a byte. Not a stable API for applications: that is `@cirrusmq/client`.
 */
export * from './api/ack-answer.js';
export * from './api/broker-client.js';
export * from './api/cancel-scheduled.js';
export * from './api/consume-types.js';
export * from './api/dead-letter-batch.js';
export * from './api/gateway-client.js';
export * from './api/nameserver-client.js';
export * from './api/pop-parts.js';
export * from './api/transaction-check.js';
export * from './api/types.js';
export * from './codec/int64.js';
export * from './codec/properties.js';
export * from './codec/record.js';
export * from './codec/send-batch.js';
export * from './codec/tag-hash.js';
export * from './codec/timer-batch.js';
export * from './config/env.js';
export * from './errors.js';
export * from './filter/subscription-data.js';
export * from './http/http-client.js';
export * from './logger.js';
export * from './message-id.js';
export * from './message.js';
export * from './producer/prepare-message.js';
export * from './producer/select-queue-by-hash.js';
export * from './producer/send-groups.js';
export * from './producer/timer-properties.js';
export * from './producer/transaction-end-sender.js';
export * from './producer/transaction-id.js';
export * from './remoting/broker-transport.js';
export * from './remoting/remoting-frame.js';
export * from './remoting/turn-cork.js';
export * from './route/broker-fault-tolerance.js';
export * from './route/route-cache.js';
export * from './route/topic-publish-info.js';
export * from './validation.js';
