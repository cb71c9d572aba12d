/**
 * Messages as the HTTP API writes them: JSON with a UTF-8 or base64 body. Parsing checks
 * shapes only; the producer's validation applies RocketMQ's limits after.
 */
import { isUtf8 } from 'node:buffer';
import { CirrusError, type Message, MessageConst, type MessageExt, type MessageQueue } from '@cirrusmq/client/protocol';
import type { SendOutcome } from '@cirrusmq/client';

export type BodyEncoding = 'utf8' | 'base64';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const RESERVED = new Set<string>(Object.values(MessageConst));

export function parseMessages(topic: string, raw: unknown): Message[] {
  if (!Array.isArray(raw)) throw new CirrusError('INVALID_MESSAGE', '"messages" must be an array');
  const out: Message[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    try {
      out[i] = parseMessage(topic, raw[i]);
    } catch (e) {
      if (e instanceof CirrusError) throw new CirrusError(e.code, `messages[${i}]: ${e.message}`);
      throw e;
    }
  }
  return out;
}

function parseMessage(topic: string, m: unknown): Message {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CirrusError('INVALID_MESSAGE', 'must be an object');
  const o = m as Record<string, unknown>;
  if (typeof o.body !== 'string') throw new CirrusError('INVALID_MESSAGE', '"body" must be a string');
  const encoding = o.bodyEncoding === undefined ? 'utf8' : o.bodyEncoding;
  // A UTF-8 body stays the string JSON.parse made: the producer writes its bytes straight
  // into the batch sent to the broker.
  let body: Message['body'];
  if (encoding === 'utf8') body = o.body;
  else if (encoding === 'base64') {
    if (!BASE64.test(o.body)) throw new CirrusError('INVALID_MESSAGE', '"body" is not valid base64');
    body = Buffer.from(o.body, 'base64');
  } else throw new CirrusError('INVALID_MESSAGE', '"bodyEncoding" must be "utf8" or "base64"');
  const msg: Message = { topic, body };
  if (o.tags !== undefined) msg.tags = o.tags as string;
  if (o.keys !== undefined) msg.keys = o.keys as string[];
  if (o.properties !== undefined) msg.properties = o.properties as Record<string, string>;
  if (o.shardingKey !== undefined) msg.shardingKey = o.shardingKey as string;
  // Checked by the producer's prepare (timer-properties.ts): a non-number is INVALID_DELAY there.
  if (o.deliverAt !== undefined) msg.deliverAt = o.deliverAt as number;
  if (o.delaySeconds !== undefined) msg.delaySeconds = o.delaySeconds as number;
  if (o.delayTimeLevel !== undefined) msg.delayTimeLevel = o.delayTimeLevel as number;
  return msg;
}

export interface MessageJson {
  messageId: string;
  queueOffset: number;
  body: string;
  bodyEncoding: BodyEncoding;
  tags?: string;
  keys: string[];
  properties: Record<string, string>;
  bornTimestamp: number;
  storeTimestamp: number;
}

/**
 * A stored message as JSON: the body as text when it is valid UTF-8, base64 otherwise (or
 * always, with `base64`: read-answer.ts asks so for a text that escapes too large).
 */
export function messageToJson(m: MessageExt, base64 = false): MessageJson {
  const utf8 = !base64 && isUtf8(m.body);
  const properties: Record<string, string> = {};
  for (const k in m.properties) if (!RESERVED.has(k)) properties[k] = m.properties[k]!;
  return {
    messageId: m.messageId,
    queueOffset: m.queueOffset,
    body: m.body.toString(utf8 ? 'utf8' : 'base64'),
    bodyEncoding: utf8 ? 'utf8' : 'base64',
    tags: m.tags,
    keys: m.keys,
    properties,
    bornTimestamp: m.bornTimestamp,
    storeTimestamp: m.storeTimestamp,
  };
}

/** One send result as the API writes it. */
export function resultJson(o: SendOutcome) {
  if (o.status === 'FAILED') return { status: o.status, error: { code: o.error.code, message: o.error.message } };
  return { status: o.status, messageId: o.messageId, broker: o.messageQueue.brokerName, queueId: o.messageQueue.queueId, queueOffset: o.queueOffset };
}

/**
 * `JSON.stringify({ results: outcomes.map(resultJson) })`, the same text, without an object
 * per result: the parts shared by a run of results into one queue are encoded once.
 */
export function resultsJson(outcomes: readonly SendOutcome[]): string {
  let s = '{"results":[';
  let mq: MessageQueue | undefined;
  let status = '';
  let head = '';
  let middle = '';
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!;
    if (i > 0) s += ',';
    if (o.status === 'FAILED') {
      s += JSON.stringify(resultJson(o));
      continue;
    }
    if (o.messageQueue !== mq || o.status !== status) {
      mq = o.messageQueue;
      status = o.status;
      head = `{"status":${JSON.stringify(status)},"messageId":`;
      middle = `,"broker":${JSON.stringify(mq.brokerName)},"queueId":${JSON.stringify(mq.queueId)},"queueOffset":`;
    }
    s += head + jsonString(o.messageId) + middle + o.queueOffset + '}';
  }
  return s + ']}';
}

/**
 * JSON.stringify(s) for a string: quoted as it is when no character needs an escape (a
 * message id always), without the call into the runtime that JSON.stringify costs per value.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}
