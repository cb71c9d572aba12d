/**
 * Checks of the consume routes' JSON bodies (client/src/api/consume-types.ts): anything out of
 * ConsumeLimits is a 400 naming the field, before the consume core sees it.
 */
import {
  type AckRequest,
  type ChangeInvisibilityRequest,
  CirrusError,
  type CommitOffsetRequest,
  type ConsumeFrom,
  ConsumeLimits,
  type PopRequest,
  RELEASE_INVISIBLE_MS,
  type ResetOffsetRequest,
  validateGroup,
  validateTopic,
} from '@cirrusmq/client/protocol';

type Body = Record<string, unknown>;

export function parseJsonObject(raw: Buffer): Body {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new CirrusError('INVALID_JSON', 'the body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CirrusError('INVALID_PARAMETER', 'the body must be a JSON object');
  return v as Body;
}

function intIn(b: Body, field: string, min: number, max: number, fallback?: number): number {
  const v = b[field] ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    throw new CirrusError('INVALID_PARAMETER', `${field} must be an integer from ${min} to ${max}`);
  }
  return v as number;
}

/** The topic and group every consume request names. */
function topicAndGroup(b: Body): { topic: string; group: string } {
  return { topic: validateTopic(b.topic), group: validateGroup(b.group) };
}

export function validatePopRequest(b: Body): PopRequest {
  const { topic, group } = topicAndGroup(b);
  if (b.filter !== undefined && typeof b.filter !== 'string') throw new CirrusError('INVALID_PARAMETER', 'filter must be a tag expression string');
  return {
    topic,
    group,
    max: intIn(b, 'max', 1, ConsumeLimits.MAX_RECEIVE),
    invisibleMs: intIn(b, 'invisibleMs', ConsumeLimits.MIN_INVISIBLE_MS, ConsumeLimits.MAX_INVISIBLE_MS),
    waitMs: intIn(b, 'waitMs', 0, ConsumeLimits.MAX_WAIT_MS, 0),
    filter: b.filter as string | undefined,
    queueId: b.queueId === undefined ? undefined : intIn(b, 'queueId', 0, 2 ** 31 - 1),
  };
}

function handleList<T>(b: Body, field: string): T[] {
  const list = b[field];
  if (!Array.isArray(list) || list.length === 0 || list.length > ConsumeLimits.MAX_ACK_ENTRIES) {
    throw new CirrusError('INVALID_PARAMETER', `${field} must be a list of 1 to ${ConsumeLimits.MAX_ACK_ENTRIES} entries`);
  }
  return list as T[];
}

/** The handles themselves are checked per entry (a bad one fails alone, the rest are acked). */
export function validateAckRequest(b: Body): AckRequest {
  return { ...topicAndGroup(b), receiptHandles: handleList<string>(b, 'receiptHandles') };
}

export function validateChangeInvisibilityRequest(b: Body): ChangeInvisibilityRequest {
  const entries = handleList<Body>(b, 'entries').map((e) => {
    if (typeof e !== 'object' || e === null) throw new CirrusError('INVALID_PARAMETER', 'each entry must be {receiptHandle, invisibleMs}');
    // RELEASE_INVISIBLE_MS: the gateway and the SDK hand back leases a consumer never saw.
    if (e.invisibleMs === RELEASE_INVISIBLE_MS) return { receiptHandle: e.receiptHandle as string, invisibleMs: RELEASE_INVISIBLE_MS };
    return { receiptHandle: e.receiptHandle as string, invisibleMs: intIn(e, 'invisibleMs', ConsumeLimits.MIN_INVISIBLE_MS, ConsumeLimits.MAX_INVISIBLE_MS) };
  });
  return { ...topicAndGroup(b), entries };
}

export function validateCommitOffsetRequest(b: Body): CommitOffsetRequest {
  return { ...topicAndGroup(b), queueId: intIn(b, 'queueId', 0, 2 ** 31 - 1), offset: intIn(b, 'offset', 0, Number.MAX_SAFE_INTEGER) };
}

export function validateConsumeFrom(v: unknown): ConsumeFrom {
  if (v === 'earliest' || v === 'latest') return v;
  if (Number.isSafeInteger(v) && (v as number) >= 0) return v as number;
  throw new CirrusError('INVALID_PARAMETER', 'to must be "earliest", "latest" or an epoch ms');
}

export function validateResetOffsetRequest(b: Body): ResetOffsetRequest {
  return { ...topicAndGroup(b), to: validateConsumeFrom(b.to) };
}
