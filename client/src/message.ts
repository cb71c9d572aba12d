/** The message model: what a producer sends and what a reader gets back. */

/** RocketMQ's reserved property names (MessageConst). */
export const MessageConst = {
  TAGS: 'TAGS',
  KEYS: 'KEYS',
  UNIQ_KEY: 'UNIQ_CLIENT_MESSAGE_ID_KEYIDX',
  SHARDING_KEY: '__SHARDINGKEY',
  PRODUCER_GROUP: 'PGROUP',
  /** Timer messages (RocketMQ 5's names): an absolute delivery time in epoch ms, or a delay in seconds from the broker's receipt. */
  TIMER_DELIVER_MS: 'TIMER_DELIVER_MS',
  TIMER_DELAY_SEC: 'TIMER_DELAY_SEC',
  /** RocketMQ 4's delay level, 1..18 (DELAY_LEVELS_MS). */
  DELAY: 'DELAY',
  /** Set by the broker on a scheduled message: the time it fires (ms), and where it goes then. */
  TIMER_OUT_MS: 'TIMER_OUT_MS',
  REAL_TOPIC: 'REAL_TOPIC',
  REAL_QID: 'REAL_QID',
  /** How often the broker re-appended a timer beyond its wheel's span (rolled forward). */
  TIMER_ROLL_TIMES: 'TIMER_ROLL_TIMES',
  /** A cancel record: the id of the scheduled message it cancels. */
  TIMER_DEL_UNIQKEY: 'TIMER_DEL_UNIQKEY',
  /** Transactional messages (RocketMQ's names): a half message, its transaction id, and the op records' kind (transaction/). */
  TRANSACTION_PREPARED: 'TRAN_MSG',
  TRANSACTION_ID: '__transactionId__',
  TRANSACTION_OP: 'TRANS_OP',
  /** How often a half message was checked back, on the copy a checker is given. */
  TRANSACTION_CHECK_TIMES: 'TRANSACTION_CHECK_TIMES',
} as const;

/** RocketMQ 4's messageDelayLevel "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h": level n waits DELAY_LEVELS_MS[n - 1]. */
export const DELAY_LEVELS_MS: readonly number[] = [
  1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000, 480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000,
  7_200_000,
];

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
  /**
   * Scheduled delivery (at most one of the three): visible in its queue no earlier than this
   * time (epoch ms; a past time delivers at once), after this many seconds from the broker's
   * receipt, or after RocketMQ 4's delay level 1..18 (DELAY_LEVELS_MS). The broker refuses a
   * time past its horizon (40 days by default) with INVALID_DELAY.
   */
  deliverAt?: number;
  delaySeconds?: number;
  delayTimeLevel?: number;
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
