/**
 * The consume side's shapes, shared by the broker, the gateway, the SDK consumers and the
 * NameServer: consumer groups (RocketMQ's SubscriptionGroupConfig), POP receive / ack /
 * change-invisibility, offsets and progress.
 *
 * Broker API (JSON bodies unless said otherwise; errors as everywhere, {"error":{code,message}}):
 *
 *   POST /v1/consume/pop                   PopRequest            -> 200 POP_RESULT body (below)
 *   POST /v1/consume/ack                   AckRequest            -> 200 AckResponse
 *   POST /v1/consume/change-invisibility   ChangeInvisibilityRequest -> 200 ChangeInvisibilityResponse
 *   GET  /v1/consume/progress?topic=&group=                     -> 200 ConsumerProgress
 *   POST /v1/consume/offsets/commit        CommitOffsetRequest   -> 200 ConsumerProgress
 *   POST /v1/consume/offsets/reset         ResetOffsetRequest    -> 200 ConsumerProgress
 *
 * POP_RESULT body (content type ContentTypes.POP_RESULT):
 *
 *   offset  size  field
 *    0      4     metaLength      uint32 BE
 *    4      n     meta            UTF-8 JSON, a PopResultMeta
 *    4+n    ...   records         the stored records back to back (codec/record.ts decodeRecords),
 *                                 in the order of meta.messages
 *
 * A pop that finds nothing waits up to waitMs for a message to arrive (long polling), then
 * answers an empty list. What a broker leased for a request is either in its answer or
 * released at once.
 */

/** A consumer group's settings (RocketMQ's SubscriptionGroupConfig), kept by the NameServer. */
export interface SubscriptionGroupConfig {
  group: string;
  /** Redeliveries before a message goes to %DLQ%{group}: retryMaxTimes + 1 deliveries in all. */
  retryMaxTimes: number;
  /** FIFO: a queue is leased whole, its next message waits until the batch before it is acked or its lease ends. */
  orderly: boolean;
  /**
   * Where a group that has never consumed a queue starts: 'latest' (every message stored
   * after the group was created), 'earliest', or an epoch ms (the first message stored at
   * or after it).
   */
  consumeFrom: ConsumeFrom;
  createdAt: number;
}

export type ConsumeFrom = 'latest' | 'earliest' | number;

/** PUT /v1/groups/{group}: every field optional; a group is also created on first use with these defaults. */
export interface PutGroupRequest {
  retryMaxTimes?: number;
  orderly?: boolean;
  consumeFrom?: ConsumeFrom;
}

export const GroupDefaults = {
  RETRY_MAX_TIMES: 16,
  ORDERLY: false,
  CONSUME_FROM: 'latest',
} as const satisfies { RETRY_MAX_TIMES: number; ORDERLY: boolean; CONSUME_FROM: ConsumeFrom };

export const ConsumeLimits = {
  /** Messages per receive (RocketMQ's POP batch). */
  MAX_RECEIVE: 32,
  MIN_INVISIBLE_MS: 1_000,
  /** 12 h, as SQS and RocketMQ. */
  MAX_INVISIBLE_MS: 43_200_000,
  /** Long polling. */
  MAX_WAIT_MS: 20_000,
  /** Receipt handles per ack or change-invisibility request. */
  MAX_ACK_ENTRIES: 100,
  /** Characters of a receipt handle as the HTTP API takes it. */
  MAX_RECEIPT_HANDLE_CHARS: 1024,
  MAX_RETRY_TIMES: 64,
} as const;

/** The dead-letter topic of a group. */
export const dlqTopicOf = (group: string): string => `%DLQ%${group}`;

export interface PopRequest {
  topic: string;
  group: string;
  /** 1..MAX_RECEIVE */
  max: number;
  invisibleMs: number;
  /** 0..MAX_WAIT_MS; 0 answers at once. */
  waitMs: number;
  /** A tag expression (`TagA || TagB`, `*`). */
  filter?: string;
  /** Only this queue (a client that selects queues itself); absent: the broker picks the topic's queues in turn. */
  queueId?: number;
}

export interface PoppedMeta {
  receiptHandle: string;
  /** 1 on the first delivery. */
  deliveryAttempt: number;
  queueId: number;
  queueOffset: number;
}

export interface PopResultMeta {
  messages: PoppedMeta[];
}

export interface AckRequest {
  topic: string;
  group: string;
  receiptHandles: string[];
}

export interface EntryFailure {
  status: 'FAILED';
  error: { code: string; message: string };
}

export interface AckResponse {
  /** One per receipt handle, in order. */
  results: ({ status: 'OK' } | EntryFailure)[];
}

export interface ChangeInvisibilityRequest {
  topic: string;
  group: string;
  /**
   * invisibleMs MIN_INVISIBLE_MS..MAX_INVISIBLE_MS; or RELEASE_INVISIBLE_MS (0), on the
   * broker route only (the gateway refuses it from users): the lease ends now and the message
   * is deliverable again at once, without counting as a delivery attempt (the consumer never
   * saw it). The gateway releases this way what a receive leased but does not answer.
   */
  entries: { receiptHandle: string; invisibleMs: number }[];
}

/** ChangeInvisibilityRequest's "release now" (see there). */
export const RELEASE_INVISIBLE_MS = 0;

/**
 * A receipt handle is `v2.<brokerName>.<body>` (the broker's ReceiptHandleCodec owns the
 * format; handles given out before it are `v1.<base64url JSON [brokerName, …]>.<mac>`). Only
 * the broker verifies it. The gateway routes an ack or change-invisibility by the broker name
 * read here, and trusts nothing else in it.
 */
/** The last broker name a v2 handle passed the name check with: the handles of one ack mostly share it. */
let lastBrokerName: string | undefined;

export function receiptHandleBroker(handle: string): string | undefined {
  if (handle.length > 1024) return undefined;
  // v2 (what brokers hand out now) without split or a regex per handle: a gateway routes every ack through here.
  if (handle.startsWith('v2.')) {
    const dot = handle.indexOf('.', 3);
    if (dot < 0 || handle.indexOf('.', dot + 1) >= 0) return undefined;
    const name = handle.slice(3, dot);
    if (name === lastBrokerName) return name;
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name)) return undefined;
    lastBrokerName = name;
    return name;
  }
  const parts = handle.split('.');
  if (parts.length !== 3) return undefined;
  let name: unknown;
  if (parts[0] === 'v2') {
    name = parts[1];
  } else if (parts[0] === 'v1') {
    try {
      const fields: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
      name = Array.isArray(fields) ? fields[0] : undefined;
    } catch {
      return undefined;
    }
  }
  return typeof name === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(name) ? name : undefined;
}

/**
 * Properties the broker writes on a message it copies to %DLQ%{group} (besides the original
 * message's own), read by the gateway's redrive to send it back. The dead-letter topic is
 * read (and redriven) with the group itself: offsets are per topic and group, so that cursor
 * is apart from the group's cursor on its own topics.
 */
export const DlqProperties = {
  /** The topic the message was consumed from. */
  ORIGIN_TOPIC: 'DLQ_ORIGIN_TOPIC',
  ORIGIN_QUEUE_ID: 'DLQ_ORIGIN_QUEUE_ID',
  ORIGIN_QUEUE_OFFSET: 'DLQ_ORIGIN_QUEUE_OFFSET',
  /** The original message's id (RocketMQ's ORIGIN_MESSAGE_ID). */
  ORIGIN_MESSAGE_ID: 'DLQ_ORIGIN_MESSAGE_ID',
  /** Deliveries made before it was dead-lettered. */
  DELIVERY_ATTEMPTS: 'DLQ_DELIVERY_ATTEMPTS',
} as const;

export interface ChangeInvisibilityResponse {
  /** One per entry, in order; an OK carries the new handle (the old one no longer works). */
  results: ({ status: 'OK'; receiptHandle: string } | EntryFailure)[];
}

export interface ConsumerQueueProgress {
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** The smallest offset still leased, or the cursor when none is: a restart loses nothing below it. */
  committedOffset: number;
  /** The next offset a receive reads. */
  cursor: number;
  inFlight: number;
  /** maxOffset - committedOffset. */
  lag: number;
}

export interface ConsumerProgress {
  topic: string;
  group: string;
  brokerName: string;
  queues: ConsumerQueueProgress[];
  /** Redeliveries since the broker started (a lease that ended without an ack). */
  retried: number;
  /** Messages sent to the dead-letter topic since the broker started. */
  deadLettered: number;
}

export interface CommitOffsetRequest {
  topic: string;
  group: string;
  queueId: number;
  offset: number;
}

export interface ResetOffsetRequest {
  topic: string;
  group: string;
  to: ConsumeFrom;
}
