/** The message model: what a producer sends and what a reader gets back. */

/** RocketMQ's reserved property names (MessageConst). */
export const MessageConst = {
  TAGS: 'TAGS',
  KEYS: 'KEYS',
  UNIQ_KEY: 'UNIQ_CLIENT_MESSAGE_ID_KEYIDX',
  SHARDING_KEY: '__SHARDINGKEY',
  PRODUCER_GROUP: 'PGROUP',
} as const;

/** Keys are joined by a space in the KEYS property, as RocketMQ does. */
export const KEY_SEPARATOR = ' ';

/** sysFlag bits (MessageSysFlag). */
export const SysFlag = {
  COMPRESSED: 0x1,
} as const;

export interface Message {
  topic: string;
  /** The payload: bytes, or text, which is sent as its UTF-8 bytes. */
  body: Uint8Array | string;
  tags?: string;
  keys?: string[];
  /** User properties; names in MessageConst are reserved. */
  properties?: Record<string, string>;
  /** Messages with the same sharding key go to the same queue, in order. */
  shardingKey?: string;
}

export type SendStatus = 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'FLUSH_S3_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';

export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

export interface SendResult {
  status: SendStatus;
  messageId: string;
  messageQueue: MessageQueue;
  queueOffset: number;
}

/** A stored message as read back (RocketMQ's MessageExt). */
export interface MessageExt {
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  storeTimestamp: number;
  reconsumeTimes: number;
  /** Already decompressed. */
  body: Buffer;
  properties: Record<string, string>;
  messageId: string;
  tags?: string;
  keys: string[];
}
