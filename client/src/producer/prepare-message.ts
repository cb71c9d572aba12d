/**
 * Turns a Message into its wire form once, before any attempt: validated, given its UNIQ_KEY
 * id, its body deflated when over the threshold (RocketMQ's compressMsgBodyOverHowmuch), and
 * its reserved properties (TAGS, KEYS, UNIQ_KEY) folded in. Retries reuse the result.
 */
import { deflateSync } from 'node:zlib';
import type { PreparedMessage } from '../codec/send-batch.js';
import { KEY_SEPARATOR, MessageConst, SysFlag, type Message } from '../message.js';
import { createUniqId } from '../message-id.js';
import { validateMessage } from '../validation.js';
import { timerProperties } from './timer-properties.js';

export const DEFAULT_COMPRESS_OVER_BYTES = 4 * 1024;

// codec/properties.ts's encoding (name \u0001 value \u0002), with the reserved names' heads built once.
const NAME_VALUE = '\u0001';
const PROPERTY = '\u0002';
const TAGS_HEAD = MessageConst.TAGS + NAME_VALUE;
const KEYS_HEAD = MessageConst.KEYS + NAME_VALUE;
const SHARDING_KEY_HEAD = MessageConst.SHARDING_KEY + NAME_VALUE;
const UNIQ_KEY_HEAD = MessageConst.UNIQ_KEY + NAME_VALUE;

/** `topicChecked`: the caller validated msg.topic already (a batch checks its topic once). */
export function prepareMessage(msg: Message, compressOverBytes = DEFAULT_COMPRESS_OVER_BYTES, now = Date.now(), topicChecked = false): PreparedMessage {
  const bodyLength = validateMessage(msg, topicChecked);
  const messageId = createUniqId(now);
  // The user's properties in their own order, then the reserved ones (validation keeps
  // reserved names out of the user's): what encodeProperties gives for the merged object.
  let properties = '';
  const user = msg.properties;
  if (user !== undefined) {
    for (const name of Object.keys(user)) properties += name + NAME_VALUE + user[name] + PROPERTY;
  }
  if (msg.tags) properties += TAGS_HEAD + msg.tags + PROPERTY;
  if (msg.keys && msg.keys.length > 0) properties += KEYS_HEAD + msg.keys.join(KEY_SEPARATOR) + PROPERTY;
  if (msg.shardingKey) properties += SHARDING_KEY_HEAD + msg.shardingKey + PROPERTY;
  if (msg.deliverAt !== undefined || msg.delaySeconds !== undefined || msg.delayTimeLevel !== undefined) properties += timerProperties(msg);
  properties += UNIQ_KEY_HEAD + messageId + PROPERTY;

  let body = msg.body;
  let length = bodyLength;
  let sysFlag = 0;
  if (bodyLength > compressOverBytes) {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const deflated = deflateSync(bytes, { level: 5 });
    if (deflated.length < bytes.length) {
      body = deflated;
      length = deflated.length;
      sysFlag |= SysFlag.COMPRESSED;
    } else body = bytes;
  }
  // A text body stays a string: encodeSendBatch writes its UTF-8 straight into the batch.
  return { messageId, body, bodyLength: length, sysFlag, bornTimestamp: now, properties, propertiesLength: Buffer.byteLength(properties, 'utf8') };
}

/**
 * The message keeps an id it already has (a redriven dead letter, a gRPC client's own id):
 * UNIQ_KEY, which prepareMessage writes last, takes it. The caller vouches for the id.
 */
export function withMessageId(p: PreparedMessage, id: string): PreparedMessage {
  const tail = p.messageId + PROPERTY;
  p.properties = p.properties.slice(0, p.properties.length - tail.length) + id + PROPERTY;
  p.propertiesLength = Buffer.byteLength(p.properties, 'utf8');
  p.messageId = id;
  return p;
}
