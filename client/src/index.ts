/**
 * `@cirrusmq/client`: the SDK an application uses. Producers (direct to the brokers, or over
 * the gateway's HTTP API), the gateway's admin and read client, the message model and the
 * typed errors. The wire-level modules the broker and the functions share are in
 * `@cirrusmq/client/protocol`; they are not part of this entry so it can stay small and stable.
 */
export { Producer, type PreparedBatch, type ProducerOptions, type SendFailure, type SendOutcome } from './producer/producer.js';
export { HttpProducer } from './producer/http-producer.js';
export { GatewayClient, type MessageJsonIn, type MessageJsonOut, type ReadResultJson, type SendResultJson } from './api/gateway-client.js';
export type { ClusterBrokerInfo, Durability, TopicInfo, TopicRouteData } from './api/types.js';
export { KEY_SEPARATOR, type Message, type MessageExt, type MessageQueue, type SendResult, type SendStatus } from './message.js';
export { CirrusError, ErrorCodes, isErrorCode, toCirrusError, type ErrorCode, type ErrorDetails } from './errors.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
