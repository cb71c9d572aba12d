/** RocketMQ's limits (Validators, TopicValidator), checked before anything leaves a client. */
import { ConsumeLimits, type ConsumeFrom, type PutGroupRequest } from './api/consume-types.js';
import { CirrusError } from './errors.js';
import { KEY_SEPARATOR, MessageConst, type Message } from './message.js';

export const Limits = {
  TOPIC_MAX_LENGTH: 127,
  MAX_BODY_BYTES: 4 * 1024 * 1024,
  MAX_PROPERTIES_BYTES: 16 * 1024,
  MAX_BATCH_MESSAGES: 1000,
  MAX_BATCH_BYTES: 4 * 1024 * 1024,
  /** A broker's send request: a 4 MiB batch plus each record's header and properties. */
  MAX_SEND_REQUEST_BYTES: 5 * 1024 * 1024,
  MAX_QUEUES_PER_BROKER: 1024,
  MAX_READ_BATCH: 1024,
  TAG_MAX_LENGTH: 255,
} as const;

export const TOPIC_PATTERN = /^[%|a-zA-Z0-9_-]+$/;
export const RESERVED_TOPIC_PREFIXES = ['%RETRY%', '%DLQ%', 'rmq_sys_'] as const;
const RESERVED_PROPERTIES = new Set<string>(Object.values(MessageConst));
/** Property separators of the wire format (see codec/properties.ts). */
const SEPARATORS = /[\u0001\u0002]/;

export function validateTopic(topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new CirrusError('INVALID_TOPIC', 'topic must be a non-empty string');
  }
  if (topic.length > Limits.TOPIC_MAX_LENGTH) {
    throw new CirrusError('INVALID_TOPIC', `topic is longer than ${Limits.TOPIC_MAX_LENGTH} characters`);
  }
  if (!TOPIC_PATTERN.test(topic)) {
    throw new CirrusError('INVALID_TOPIC', `topic "${topic}" has characters outside ${TOPIC_PATTERN.source}`);
  }
  return topic;
}

/** A topic that users may create and send to: valid and not reserved for the system. */
export function validateUserTopic(topic: unknown): string {
  const t = validateTopic(topic);
  const prefix = RESERVED_TOPIC_PREFIXES.find((p) => t.startsWith(p));
  if (prefix) throw new CirrusError('RESERVED_TOPIC', `topic prefix "${prefix}" is reserved`);
  return t;
}

export function validateQueueCount(queues: unknown): number {
  if (!Number.isInteger(queues) || (queues as number) < 1 || (queues as number) > Limits.MAX_QUEUES_PER_BROKER) {
    throw new CirrusError('INVALID_PARAMETER', `queues must be an integer from 1 to ${Limits.MAX_QUEUES_PER_BROKER}`);
  }
  return queues as number;
}

/**
 * Whether a string is valid Unicode (no lone surrogate, ES2024's String.prototype.isWellFormed,
 * a native scan). Encoding a lone surrogate as UTF-8 writes U+FFFD instead: the stored text
 * would silently differ from the text sent.
 */
export function isWellFormedText(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function notText(what: string): CirrusError {
  return new CirrusError('INVALID_TEXT', `${what} is not valid Unicode text (it holds a lone surrogate); send binary as bodyEncoding "base64"`);
}

/**
 * Checks a message against RocketMQ's limits; returns the body's length in bytes. A batch
 * checks its topic once and passes `topicChecked`, rather than once per message.
 */
export function validateMessage(msg: Message, topicChecked = false): number {
  if (!topicChecked) validateUserTopic(msg.topic);
  const body = msg.body;
  if (typeof body === 'string' && !isWellFormedText(body)) throw notText('body');
  const bodyLength = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body instanceof Uint8Array ? body.length : 0;
  if (bodyLength === 0) {
    throw new CirrusError('INVALID_MESSAGE', 'body must not be empty');
  }
  if (bodyLength > Limits.MAX_BODY_BYTES) {
    throw new CirrusError('PAYLOAD_TOO_LARGE', `body is larger than ${Limits.MAX_BODY_BYTES} bytes`);
  }
  if (msg.tags !== undefined) {
    if (typeof msg.tags !== 'string' || msg.tags.length === 0 || msg.tags.length > Limits.TAG_MAX_LENGTH) {
      throw new CirrusError('INVALID_MESSAGE', `tags must be a string of 1 to ${Limits.TAG_MAX_LENGTH} characters`);
    }
    if (msg.tags.includes('||') || SEPARATORS.test(msg.tags)) {
      throw new CirrusError('INVALID_MESSAGE', 'tags must not contain "||" or control separators');
    }
    if (!isWellFormedText(msg.tags)) throw notText('tags');
  }
  if (msg.keys !== undefined) {
    // Keys are stored joined by a space (RocketMQ's KEYS property), so a key cannot hold one.
    if (!Array.isArray(msg.keys) || msg.keys.some((k) => typeof k !== 'string' || k.length === 0 || SEPARATORS.test(k) || k.includes(KEY_SEPARATOR))) {
      throw new CirrusError('INVALID_MESSAGE', 'keys must be an array of non-empty strings without spaces');
    }
    if (msg.keys.some((k) => !isWellFormedText(k))) throw notText('a key');
  }
  if (msg.shardingKey !== undefined && (typeof msg.shardingKey !== 'string' || msg.shardingKey.length === 0)) {
    throw new CirrusError('INVALID_MESSAGE', 'shardingKey must be a non-empty string');
  }
  if (msg.shardingKey !== undefined && !isWellFormedText(msg.shardingKey)) throw notText('shardingKey');
  if (msg.properties !== undefined) validateProperties(msg.properties);
  return bodyLength;
}

function validateProperties(properties: unknown): void {
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new CirrusError('INVALID_MESSAGE', 'properties must be an object of strings');
  }
  let bytes = 0;
  for (const [name, value] of Object.entries(properties)) {
    if (typeof value !== 'string') throw new CirrusError('INVALID_MESSAGE', `property "${name}" must be a string`);
    if (name.length === 0 || SEPARATORS.test(name) || SEPARATORS.test(value)) {
      throw new CirrusError('INVALID_MESSAGE', `property "${name}" has an empty name or a control separator`);
    }
    if (RESERVED_PROPERTIES.has(name)) throw new CirrusError('INVALID_MESSAGE', `property "${name}" is reserved`);
    if (!isWellFormedText(name) || !isWellFormedText(value)) throw notText(`property "${name}"`);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
  }
  if (bytes > Limits.MAX_PROPERTIES_BYTES) {
    throw new CirrusError('INVALID_MESSAGE', `properties are larger than ${Limits.MAX_PROPERTIES_BYTES} bytes`);
  }
}

/** Parses a non-negative integer query parameter; `fallback` when absent. */
export function parseNonNegativeInt(name: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new CirrusError('INVALID_PARAMETER', `${name} is required`);
  }
  if (!/^\d{1,15}$/.test(raw)) throw new CirrusError('INVALID_PARAMETER', `${name} must be a non-negative integer`);
  return Number(raw);
}

/** A message key or id to look up: non-empty, no control separators, no longer than properties allow. */
export function validateLookupKey(name: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new CirrusError('INVALID_PARAMETER', `${name} is required`);
  if (raw.length > Limits.MAX_PROPERTIES_BYTES) throw new CirrusError('INVALID_PARAMETER', `${name} is longer than ${Limits.MAX_PROPERTIES_BYTES} characters`);
  if (SEPARATORS.test(raw)) throw new CirrusError('INVALID_PARAMETER', `${name} has a control separator`);
  if (!isWellFormedText(raw)) throw new CirrusError('INVALID_TEXT', `${name} is not valid Unicode text`);
  return raw;
}

/** A lookup's time range in ms (default: all time) and result count (default 32, at most MAX_READ_BATCH). */
export function parseLookupRange(raw: { begin?: string | null; end?: string | null; max?: string | null }): { begin: number; end: number; max: number } {
  const begin = parseTimestamp('begin', raw.begin ?? undefined, 0);
  const end = parseTimestamp('end', raw.end ?? undefined, Number.MAX_SAFE_INTEGER);
  const max = parseNonNegativeInt('max', raw.max ?? undefined, 32);
  if (begin > end) throw new CirrusError('INVALID_PARAMETER', `begin (${begin}) is after end (${end})`);
  if (max < 1 || max > Limits.MAX_READ_BATCH) throw new CirrusError('INVALID_PARAMETER', `max must be from 1 to ${Limits.MAX_READ_BATCH}`);
  return { begin, end, max };
}

/** A time in ms since the epoch, up to Number.MAX_SAFE_INTEGER (the "no limit" a client may send back). */
function parseTimestamp(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || v > Number.MAX_SAFE_INTEGER) throw new CirrusError('INVALID_PARAMETER', `${name} must be a time in ms since the epoch`);
  return v;
}

/** Consumer group names (RocketMQ's group rule, narrowed): they become parts of keys, paths and %DLQ% topic names. */
export const GROUP_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const RESERVED_GROUP_PREFIXES = ['%RETRY%', '%DLQ%', 'rmq_sys_'] as const;

/** A consumer group name users may name: valid and not reserved for the system. */
export function validateGroup(group: unknown): string {
  if (typeof group !== 'string' || group.length === 0) throw new CirrusError('INVALID_GROUP', 'group must be a non-empty string');
  // The pattern alone refuses '%RETRY%' and '%DLQ%'; rmq_sys_ fits it, so prefixes are checked first for a clear message.
  const prefix = RESERVED_GROUP_PREFIXES.find((p) => group.startsWith(p));
  if (prefix) throw new CirrusError('INVALID_GROUP', `group prefix "${prefix}" is reserved`);
  if (!GROUP_PATTERN.test(group)) {
    throw new CirrusError('INVALID_GROUP', `group "${group.slice(0, 80)}" must be 1 to 64 letters, digits, '_' or '-'`);
  }
  return group;
}

/** PUT /v1/groups/{group}'s body: every field optional, unknown fields refused (a typo must not pass silently). */
export function validatePutGroupRequest(body: unknown): PutGroupRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CirrusError('INVALID_PARAMETER', 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => k !== 'retryMaxTimes' && k !== 'orderly' && k !== 'consumeFrom');
  if (unknown.length > 0) throw new CirrusError('INVALID_PARAMETER', `unknown field "${unknown[0]}" (allowed: retryMaxTimes, orderly, consumeFrom)`);
  const out: PutGroupRequest = {};
  if (b.retryMaxTimes !== undefined) {
    if (!Number.isInteger(b.retryMaxTimes) || (b.retryMaxTimes as number) < 0 || (b.retryMaxTimes as number) > ConsumeLimits.MAX_RETRY_TIMES) {
      throw new CirrusError('INVALID_PARAMETER', `retryMaxTimes must be an integer from 0 to ${ConsumeLimits.MAX_RETRY_TIMES}`);
    }
    out.retryMaxTimes = b.retryMaxTimes as number;
  }
  if (b.orderly !== undefined) {
    if (typeof b.orderly !== 'boolean') throw new CirrusError('INVALID_PARAMETER', 'orderly must be true or false');
    out.orderly = b.orderly;
  }
  if (b.consumeFrom !== undefined) out.consumeFrom = validateConsumeFrom('consumeFrom', b.consumeFrom);
  return out;
}

/** 'latest', 'earliest' or a time in ms since the epoch. */
export function validateConsumeFrom(name: string, v: unknown): ConsumeFrom {
  if (v === 'latest' || v === 'earliest') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new CirrusError('INVALID_PARAMETER', `${name} must be "latest", "earliest" or a time in ms since the epoch (an integer >= 0)`);
}
