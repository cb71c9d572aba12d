/**
 * A SendMessage entry as the SDK's PreparedMessage: the SDK's prepareMessage does the
 * validation, compression and property encoding, and the client's own message id then
 * replaces the one it made, so the id a gRPC producer logs is the id every consumer (gRPC,
 * HTTP or SDK) sees, as with Apache's proxy (the client id is the UNIQ_KEY).
 */
import { gunzipSync } from 'node:zlib';
import { type Message, type PreparedMessage, prepareMessage, withMessageId } from '@cirrusmq/client/protocol';
import { RmqStatusError } from '../status.js';

/** The official clients' ids: "01" + 32 hex digits (v1), or the 32 hex of older ones. */
const CLIENT_ID_PATTERN = /^[0-9A-Fa-f]{16,64}$/;

export function toMessage(topic: string, m: any, maxBodySize: number): Message {
  const sp = m.system_properties ?? {};
  let body: Buffer = m.body;
  if (sp.body_encoding === 'GZIP') {
    try {
      body = gunzipSync(body, { maxOutputLength: maxBodySize });
    } catch (e) {
      throw new RmqStatusError('MESSAGE_CORRUPTED', `body_encoding GZIP, but the body does not gunzip within ${maxBodySize} bytes: ${(e as Error).message}`);
    }
  }
  const msg: Message = { topic, body };
  if (sp.tag) msg.tags = sp.tag;
  if (sp.keys?.length > 0) msg.keys = sp.keys;
  const props = m.user_properties;
  if (props && Object.keys(props).length > 0) msg.properties = props;
  if (sp.message_group) msg.shardingKey = sp.message_group;
  if (sp.delivery_timestamp) msg.deliverAt = timestampMs(sp.delivery_timestamp);
  return msg;
}

export function toPrepared(msg: Message, m: any, now: number): PreparedMessage {
  const p = prepareMessage(msg, undefined, now, true);
  const sp = m.system_properties ?? {};
  const id: string = sp.message_id ?? '';
  if (CLIENT_ID_PATTERN.test(id)) withMessageId(p, id);
  const born = timestampMs(sp.born_timestamp);
  if (born > 0) p.bornTimestamp = born;
  return p;
}

/** A google.protobuf.Timestamp as epoch ms (0 when absent). */
function timestampMs(t: { seconds?: number | string; nanos?: number } | null | undefined): number {
  return Number(t?.seconds ?? 0) * 1000 + Math.floor(Number(t?.nanos ?? 0) / 1_000_000);
}
