/**
 * `@cirrusmq/client`: the SDK an application uses. Producers and consumers (direct to the
 * brokers, or over the gateway's HTTP API), the gateway's admin and read client, the message model and the
 * typed errors. The wire-level modules the broker and the functions share are in
 * `@cirrusmq/client/protocol`; they are not part of this entry so it can stay small and stable.
 */
export { Producer, type PreparedBatch, type ProducerOptions, type SendFailure, type SendOutcome } from './producer/producer.js';
export { HttpProducer } from './producer/http-producer.js';
export { HttpTransactionProducer, type HttpTransactionProducerOptions } from './producer/http-transaction-producer.js';
export {
  TransactionProducer,
  type TransactionCheckView,
  type TransactionListener,
  type TransactionProducerOptions,
  type TransactionSendResult,
} from './producer/transaction-producer.js';
export type { TransactionResolution } from './producer/transaction-id.js';
export { SimpleConsumer, type ConsumerConnection, type SimpleConsumerOptions } from './consumer/simple-consumer.js';
export { ConsumeResult, PushConsumer, type MessageListener, type PushConsumerOptions } from './consumer/push-consumer.js';
export { PullConsumer, type PullConsumerOptions, type PulledMessage } from './consumer/pull-consumer.js';
export type { MessageView } from './consumer/message-view.js';
export type { RetryBackoff } from './consumer/retry-backoff.js';
export type { ConsumeFrom, PutGroupRequest, SubscriptionGroupConfig } from './api/consume-types.js';
export {
  GatewayClient,
  type GroupProgressJson,
  type MessageJsonIn,
  type MessageJsonOut,
  type ReadResultJson,
  type ReceivedMessageJson,
  type SendResultJson,
} from './api/gateway-client.js';
export type { ClusterBrokerInfo, Durability, TopicInfo, TopicRouteData } from './api/types.js';
export { KEY_SEPARATOR, type Message, type MessageExt, type MessageQueue, type SendResult, type SendStatus } from './message.js';
export { CirrusError, ErrorCodes, isErrorCode, toCirrusError, type ErrorCode, type ErrorDetails } from './errors.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
