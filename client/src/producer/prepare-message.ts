/**
 * Turns a Message into its wire form once, before any attempt: validated, given its UNIQ_KEY
 * id, its body deflated when over the threshold (RocketMQ's compressMsgBodyOverHowmuch), and
 * its reserved properties (TAGS, KEYS, UNIQ_KEY) folded in. Retries reuse the result.
 */
import { deflateSync } from 'node:zlib';
import { encodeProperties } from '../codec/properties';
import type { PreparedMessage } from '../codec/send-batch';
import { KEY_SEPARATOR, MessageConst, SysFlag, type Message } from '../message';
import { createUniqId } from '../message-id';
import { validateMessage } from '../validation';

export const DEFAULT_COMPRESS_OVER_BYTES = 4 * 1024;

export function prepareMessage(msg: Message, compressOverBytes = DEFAULT_COMPRESS_OVER_BYTES, now = Date.now()): PreparedMessage {
  validateMessage(msg);
  const messageId = createUniqId(now);
  const props: Record<string, string> = { ...msg.properties };
  if (msg.tags) props[MessageConst.TAGS] = msg.tags;
  if (msg.keys && msg.keys.length > 0) props[MessageConst.KEYS] = msg.keys.join(KEY_SEPARATOR);
  if (msg.shardingKey) props[MessageConst.SHARDING_KEY] = msg.shardingKey;
  props[MessageConst.UNIQ_KEY] = messageId;
  const properties = encodeProperties(props);

  let body = msg.body;
  let sysFlag = 0;
  if (body.length > compressOverBytes) {
    const deflated = deflateSync(body, { level: 5 });
    if (deflated.length < body.length) {
      body = deflated;
      sysFlag |= SysFlag.COMPRESSED;
    }
  }
  return { messageId, body, sysFlag, bornTimestamp: now, properties, propertiesLength: Buffer.byteLength(properties) };
}
