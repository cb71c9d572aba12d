/**
 * Checks of NameServer request bodies and path parameters. Brokers are trusted peers, but
 * a bad registration would poison every route that lists it, so each field is checked.
 */
import {
  type BrokerRegistration,
  CirrusError,
  type CreateTopicRequest,
  dlqTopicOf,
  parseNonNegativeInt,
  validateGroup,
  validateQueueCount,
  validateTopic,
  validateUserTopic,
} from '@cirrusmq/client/protocol';

/**
 * Cluster and broker names become parts of DynamoDB keys joined by '#', and of URL paths,
 * so they are kept to a safe alphabet.
 */
const NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,127}$/;
const MAX_HEARTBEAT_TIMEOUT_MS = 24 * 3_600_000;

export function validateName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw invalid(`${field} must be 1 to 127 letters, digits, '_', '.' or '-'`);
  }
  return value;
}

/** brokerId from a URL path segment. */
export function parseBrokerIdParam(raw: string | undefined): number {
  return parseNonNegativeInt('brokerId', raw);
}

export function validateAddress(field: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a "host:port" string`);
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  const portOk = /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535;
  if (colon <= 0 || !portOk || /[\s/]/.test(host)) throw invalid(`${field} must be "host:port", got "${value}"`);
  return value;
}

export function validateRegistration(body: Record<string, unknown>): BrokerRegistration {
  return {
    clusterName: validateName('clusterName', body.clusterName),
    brokerName: validateName('brokerName', body.brokerName),
    brokerId: nonNegativeInt('brokerId', body.brokerId),
    brokerAddr: validateAddress('brokerAddr', body.brokerAddr),
    haServerAddr: body.haServerAddr === undefined ? undefined : validateAddress('haServerAddr', body.haServerAddr),
    startedAt: nonNegativeInt('startedAt', body.startedAt),
    dataVersion: body.dataVersion === undefined ? undefined : nonNegativeInt('dataVersion', body.dataVersion),
    heartbeatTimeoutMs: body.heartbeatTimeoutMs === undefined ? undefined : heartbeatTimeout(body.heartbeatTimeoutMs),
  };
}

export function validateCreateTopic(body: Record<string, unknown>): CreateTopicRequest {
  return {
    topic: validateCreatableTopic(body.topic),
    queues: validateQueueCount(body.queues),
    cluster: body.cluster === undefined ? undefined : validateName('cluster', body.cluster),
  };
}

/** A user topic, or a group's dead-letter topic: a broker creates %DLQ%{group} when it dead-letters the group's first message. */
function validateCreatableTopic(topic: unknown): string {
  const DLQ = dlqTopicOf('');
  if (typeof topic === 'string' && topic.startsWith(DLQ)) return validateTopic(dlqTopicOf(validateGroup(topic.slice(DLQ.length))));
  return validateUserTopic(topic);
}

function nonNegativeInt(field: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(`${field} must be an integer >= 0`);
  return v as number;
}

function heartbeatTimeout(v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > MAX_HEARTBEAT_TIMEOUT_MS) {
    throw invalid(`heartbeatTimeoutMs must be an integer from 1 to ${MAX_HEARTBEAT_TIMEOUT_MS}`);
  }
  return v as number;
}

function invalid(message: string): CirrusError {
  return new CirrusError('INVALID_PARAMETER', message);
}
