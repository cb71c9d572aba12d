/**
 * RocketMQ `Code`s (definition.proto) for CirrusMQ's errors: the one place they are mapped.
 * As Apache RocketMQ's proxy does, an RPC that ran answers gRPC OK and puts its outcome in
 * the response's `status`; the official clients read that field (StatusChecker) and decide
 * from it whether to retry (TOO_MANY_REQUESTS backs off, the rest resend at once, NOT_FOUND
 * and BAD_REQUEST kinds surface as such). Only a request grpc-js cannot decode fails at the
 * gRPC level (INTERNAL, before any handler runs).
 */
import { CirrusError, type ErrorCode, toCirrusError } from '@cirrusmq/client/protocol';

/** The names of definition.proto's Code enum the proxy answers with (proto-loader gives enums as strings). */
export type RmqCode =
  | 'OK'
  | 'MULTIPLE_RESULTS'
  | 'BAD_REQUEST'
  | 'ILLEGAL_TOPIC'
  | 'ILLEGAL_CONSUMER_GROUP'
  | 'ILLEGAL_MESSAGE_TAG'
  | 'ILLEGAL_MESSAGE_KEY'
  | 'ILLEGAL_MESSAGE_GROUP'
  | 'ILLEGAL_MESSAGE_PROPERTY_KEY'
  | 'ILLEGAL_MESSAGE_ID'
  | 'ILLEGAL_FILTER_EXPRESSION'
  | 'ILLEGAL_INVISIBLE_TIME'
  | 'ILLEGAL_DELIVERY_TIME'
  | 'INVALID_TRANSACTION_ID'
  | 'INVALID_RECEIPT_HANDLE'
  | 'MESSAGE_PROPERTY_CONFLICT_WITH_TYPE'
  | 'UNRECOGNIZED_CLIENT_TYPE'
  | 'MESSAGE_CORRUPTED'
  | 'CLIENT_ID_REQUIRED'
  | 'ILLEGAL_POLLING_TIME'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'MESSAGE_NOT_FOUND'
  | 'TOPIC_NOT_FOUND'
  | 'CONSUMER_GROUP_NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'MESSAGE_BODY_TOO_LARGE'
  | 'MESSAGE_BODY_EMPTY'
  | 'MESSAGE_PROPERTIES_TOO_LARGE'
  | 'TOO_MANY_REQUESTS'
  | 'INTERNAL_ERROR'
  | 'INTERNAL_SERVER_ERROR'
  | 'PROXY_TIMEOUT'
  | 'MASTER_PERSISTENCE_TIMEOUT'
  | 'NOT_IMPLEMENTED'
  | 'UNSUPPORTED';

export interface RmqStatus {
  code: RmqCode;
  message: string;
}

/** A failure the proxy itself decides (unsupported message type, forbidden topic...), carried to the answer as is. */
export class RmqStatusError extends Error {
  constructor(
    readonly code: RmqCode,
    message: string,
  ) {
    super(message);
    this.name = 'RmqStatusError';
  }
}

const BY_ERROR_CODE: Record<ErrorCode, RmqCode> = {
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID_JSON: 'BAD_REQUEST',
  INVALID_TOPIC: 'ILLEGAL_TOPIC',
  // RocketMQ's GrpcValidator: a system topic is an ILLEGAL_TOPIC ("cannot access system topic").
  RESERVED_TOPIC: 'ILLEGAL_TOPIC',
  INVALID_MESSAGE: 'BAD_REQUEST',
  INVALID_TEXT: 'BAD_REQUEST',
  EMPTY_BATCH: 'BAD_REQUEST',
  TOO_MANY_MESSAGES: 'BAD_REQUEST',
  INVALID_PARAMETER: 'BAD_REQUEST',
  INVALID_QUEUE: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  TOPIC_NOT_FOUND: 'TOPIC_NOT_FOUND',
  BROKER_NOT_FOUND: 'NOT_FOUND',
  QUEUE_NOT_FOUND: 'NOT_FOUND',
  MESSAGE_NOT_FOUND: 'MESSAGE_NOT_FOUND',
  OFFSET_BELOW_MINIMUM: 'NOT_FOUND',
  TOPIC_EXISTS: 'BAD_REQUEST',
  INVALID_GROUP: 'ILLEGAL_CONSUMER_GROUP',
  GROUP_NOT_FOUND: 'CONSUMER_GROUP_NOT_FOUND',
  INVALID_RECEIPT_HANDLE: 'INVALID_RECEIPT_HANDLE',
  // Apache's proxy answers an expired handle with INVALID_RECEIPT_HANDLE "receipt handle is expired".
  RECEIPT_HANDLE_EXPIRED: 'INVALID_RECEIPT_HANDLE',
  PAYLOAD_TOO_LARGE: 'MESSAGE_BODY_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'BAD_REQUEST',
  // Nothing to write to or a broker gone: the clients resend at once (to the same proxy,
  // which picks another broker), as they do on Apache's INTERNAL_SERVER_ERROR.
  NO_ROUTE: 'INTERNAL_SERVER_ERROR',
  NO_LIVE_BROKER: 'INTERNAL_SERVER_ERROR',
  BROKER_UNAVAILABLE: 'INTERNAL_SERVER_ERROR',
  SERVICE_NOT_AVAILABLE: 'INTERNAL_SERVER_ERROR',
  NAMESERVER_UNAVAILABLE: 'INTERNAL_SERVER_ERROR',
  TIMEOUT: 'PROXY_TIMEOUT',
  TIER_UNAVAILABLE: 'INTERNAL_SERVER_ERROR',
  TIER_OBJECT_NOT_FOUND: 'INTERNAL_SERVER_ERROR',
  TIER_OBJECT_CONFLICT: 'INTERNAL_SERVER_ERROR',
  TIER_PREFIX_OWNED: 'INTERNAL_SERVER_ERROR',
  STORE_LOCKED: 'INTERNAL_SERVER_ERROR',
  INVALID_DELAY: 'ILLEGAL_DELIVERY_TIME',
  TIMER_NOT_FOUND: 'NOT_FOUND',
  // RecallMessage of a message already delivered: Apache answers it as a bad request.
  TIMER_ALREADY_FIRED: 'BAD_REQUEST',
  TRANSACTION_NOT_FOUND: 'INVALID_TRANSACTION_ID',
  TRANSACTION_ALREADY_ENDED: 'BAD_REQUEST',
  INTERNAL: 'INTERNAL_ERROR',
};

export function okStatus(message = 'OK'): RmqStatus {
  return { code: 'OK', message };
}

/** The status an RPC answers for a thrown value. */
export function statusOf(e: unknown): RmqStatus {
  if (e instanceof RmqStatusError) return { code: e.code, message: e.message };
  const err = e instanceof CirrusError ? e : toCirrusError(e);
  // A throttled upstream (HTTP 429) is RocketMQ's flow control: the clients back off.
  if (err.status === 429) return { code: 'TOO_MANY_REQUESTS', message: err.message };
  return { code: BY_ERROR_CODE[err.code] ?? 'INTERNAL_ERROR', message: err.message };
}
