/**
 * A message a broker leased, as apache.rocketmq.v2.Message (the plain object proto-loader
 * serializes; snake_case, enums by name). RocketMQ's GrpcConverter.buildMessage does the same
 * on Apache's proxy. Every official client needs system_properties.body_digest (the Node
 * client dereferences it unchecked) and verifies it: MD5 in upper-case hex, as Apache's proxy
 * sends, which every client language computes the same way.
 */
import { createHash } from 'node:crypto';
import { DlqProperties, MessageConst, type PoppedMessage } from '@cirrusmq/client/protocol';
import { durationOf, timestampOf } from '../duration.js';

export interface ProtoMessage {
  topic: { name: string; resource_namespace: string };
  user_properties: Record<string, string>;
  system_properties: Record<string, unknown>;
  body: Buffer;
}

/**
 * Properties the proto carries in system_properties (or that are the store's own), never
 * among user_properties: RocketMQ's MessageConst names.
 */
const SYSTEM_PROPERTIES = new Set<string>(Object.values(MessageConst));

/** MD5 of the body in upper-case hex: the digest the clients check (MessageView's md5CheckSum). */
export function bodyDigest(body: Uint8Array): { type: 'MD5'; checksum: string } {
  return { type: 'MD5', checksum: createHash('md5').update(body).digest('hex').toUpperCase() };
}

/**
 * `invisibleMs`: the lease the receive asked for (system_properties.invisible_duration).
 * The body is stored decompressed by the time a broker answers (decodeRecords inflates it),
 * so it goes as IDENTITY.
 */
export function toProtoMessage(m: PoppedMessage, invisibleMs: number): ProtoMessage {
  const p = m.properties;
  const user: Record<string, string> = {};
  for (const k in p) if (!SYSTEM_PROPERTIES.has(k)) user[k] = p[k]!;
  const group = p[MessageConst.SHARDING_KEY];
  const system: Record<string, unknown> = {
    keys: m.keys,
    message_id: m.messageId,
    body_digest: bodyDigest(m.body),
    body_encoding: 'IDENTITY',
    // A sharding key is RocketMQ 5's message group: the message was sent as FIFO.
    message_type: group ? 'FIFO' : 'NORMAL',
    born_timestamp: timestampOf(m.bornTimestamp),
    // The record keeps no born address; Apache's field is free-form ("IPv4, IPv6 or client host domain name").
    born_host: '',
    store_timestamp: timestampOf(m.storeTimestamp),
    store_host: m.brokerName,
    receipt_handle: m.receiptHandle,
    queue_id: m.queueId,
    queue_offset: m.queueOffset,
    invisible_duration: durationOf(invisibleMs),
    delivery_attempt: m.deliveryAttempt,
  };
  if (m.tags !== undefined) system.tag = m.tags;
  if (group) system.message_group = group;
  const dlqTopic = p[DlqProperties.ORIGIN_TOPIC];
  if (dlqTopic !== undefined) system.dead_letter_queue = { topic: dlqTopic, message_id: p[DlqProperties.ORIGIN_MESSAGE_ID] ?? m.messageId };
  return { topic: { name: m.topic, resource_namespace: '' }, user_properties: user, system_properties: system, body: m.body };
}
