/**
 * Messages as the HTTP API writes them: JSON with a UTF-8 or base64 body. Parsing checks
 * shapes only; the producer's validation applies RocketMQ's limits after.
 */
import { isUtf8 } from 'node:buffer';
import { CirrusError } from '../../../client/src/errors';
import { MessageConst, type Message, type MessageExt } from '../../../client/src/message';

export type BodyEncoding = 'utf8' | 'base64';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const RESERVED = new Set<string>(Object.values(MessageConst));

export function parseMessages(topic: string, raw: unknown): Message[] {
  if (!Array.isArray(raw)) throw new CirrusError('INVALID_MESSAGE', '"messages" must be an array');
  return raw.map((m, i) => {
    try {
      return parseMessage(topic, m);
    } catch (e) {
      if (e instanceof CirrusError) throw new CirrusError(e.code, `messages[${i}]: ${e.message}`);
      throw e;
    }
  });
}

function parseMessage(topic: string, m: unknown): Message {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CirrusError('INVALID_MESSAGE', 'must be an object');
  const o = m as Record<string, unknown>;
  if (typeof o.body !== 'string') throw new CirrusError('INVALID_MESSAGE', '"body" must be a string');
  const encoding = o.bodyEncoding ?? 'utf8';
  let body: Buffer;
  if (encoding === 'utf8') body = Buffer.from(o.body, 'utf8');
  else if (encoding === 'base64') {
    if (!BASE64.test(o.body)) throw new CirrusError('INVALID_MESSAGE', '"body" is not valid base64');
    body = Buffer.from(o.body, 'base64');
  } else throw new CirrusError('INVALID_MESSAGE', '"bodyEncoding" must be "utf8" or "base64"');
  const msg: Message = { topic, body };
  if (o.tags !== undefined) msg.tags = o.tags as string;
  if (o.keys !== undefined) msg.keys = o.keys as string[];
  if (o.properties !== undefined) msg.properties = o.properties as Record<string, string>;
  if (o.shardingKey !== undefined) msg.shardingKey = o.shardingKey as string;
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

/** A stored message as JSON: the body as text when it is valid UTF-8, base64 otherwise. */
export function messageToJson(m: MessageExt): MessageJson {
  const utf8 = isUtf8(m.body);
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
