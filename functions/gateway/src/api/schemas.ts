/**
 * The shapes the gateway answers with, as zod schemas named as OpenAPI components. Answers
 * are written by hand-tuned code (message-json.ts, read-answer.ts) on the hot paths, so these
 * describe them for the document; the e2e tests check real answers against the fields.
 */
import { z } from '@hono/zod-openapi';
import {
  ConsumeLimits,
  GROUP_PATTERN,
  GroupDefaults,
  Limits,
  RESERVED_GROUP_PREFIXES,
  RESERVED_TOPIC_PREFIXES,
  TOPIC_PATTERN,
  validateUserTopic,
} from '@cirrusmq/client/protocol';
import { checked } from './check';

/** A topic as a path parameter or field: the rules validateTopic applies. */
export const topicSchemaDoc = { type: 'string' as const, pattern: TOPIC_PATTERN.source, maxLength: Limits.TOPIC_MAX_LENGTH };

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ description: 'A stable code, e.g. INVALID_TOPIC, TOPIC_NOT_FOUND, NO_ROUTE' }),
      message: z.string(),
      details: z
        .record(z.string(), z.unknown())
        .optional()
        .openapi({ description: 'Facts some errors carry, e.g. {"minOffset": 120} for OFFSET_BELOW_MINIMUM' }),
    }),
  })
  .openapi('Error');

export const QueueDataSchema = z
  .object({ brokerName: z.string(), readQueueNums: z.number().int(), writeQueueNums: z.number().int(), perm: z.number().int() })
  .openapi('QueueData');

export const TopicInfoSchema = z
  .object({ topic: z.string(), queues: z.number().int(), createdAt: z.number().int(), brokers: z.array(QueueDataSchema) })
  .openapi('TopicInfo');

export const TopicListSchema = z.object({ topics: z.array(TopicInfoSchema) }).openapi('TopicList');

export const CreateTopicSchema = z
  .object({
    topic: z
      .string()
      .transform((t, ctx) => checked(() => validateUserTopic(t), ctx))
      .openapi({ ...topicSchemaDoc, description: `Not starting with a reserved prefix (${RESERVED_TOPIC_PREFIXES.join(', ')})` }),
    queues: z.number().int().min(1).max(Limits.MAX_QUEUES_PER_BROKER).openapi({ description: 'Queues per broker' }),
    cluster: z.string().optional(),
  })
  .openapi('CreateTopic');

export const TopicRouteDataSchema = z
  .object({
    topic: z.string(),
    queueDatas: z.array(QueueDataSchema),
    brokerDatas: z.array(z.object({ cluster: z.string(), brokerName: z.string(), brokerAddrs: z.record(z.string(), z.string()) })),
    filterServerTable: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('TopicRouteData');

export const SendResultSchema = z
  .object({
    status: z.enum(['SEND_OK', 'FLUSH_DISK_TIMEOUT', 'FLUSH_S3_TIMEOUT', 'FAILED']).openapi({
      description: 'FLUSH_DISK_TIMEOUT (SYNC_FLUSH) and FLUSH_S3_TIMEOUT (durability s3): stored, not yet known durable',
    }),
    messageId: z.string().optional(),
    broker: z.string().optional(),
    queueId: z.number().int().optional(),
    queueOffset: z.number().int().optional(),
    transactionId: z.string().optional().openapi({
      description: "A transactional send: the id to commit or roll back (POST /v1/transactions/{transactionId}/commit); queueOffset is then the half queue's",
    }),
    error: z.object({ code: z.string(), message: z.string() }).optional().openapi({ description: 'status FAILED only' }),
  })
  .openapi('SendResult');

export const SendResultsSchema = z.object({ results: z.array(SendResultSchema) }).openapi('SendResults');
export const AcceptedSchema = z.object({ accepted: z.number().int() }).openapi('Accepted');

const storedMessage = {
  messageId: z.string(),
  queueOffset: z.number().int(),
  body: z.string(),
  bodyEncoding: z.enum(['utf8', 'base64']),
  tags: z.string().optional(),
  keys: z.array(z.string()),
  properties: z.record(z.string(), z.string()),
  bornTimestamp: z.number().int(),
  storeTimestamp: z.number().int(),
};

export const ReadResultSchema = z
  .object({
    messages: z.array(z.object(storedMessage)),
    nextOffset: z.number().int(),
    minOffset: z.number().int(),
    maxOffset: z.number().int(),
  })
  .openapi('ReadResult');

export const LookupResultSchema = z
  .object({
    messages: z.array(z.object({ ...storedMessage, topic: z.string(), broker: z.string(), queueId: z.number().int() })),
    unreachableBrokers: z.array(z.string()).optional().openapi({ description: 'Brokers that failed to answer (left out); absent when all answered' }),
    truncated: z.boolean().optional().openapi({ description: 'true when matches were left out to fit the answer size; absent otherwise' }),
  })
  .openapi('LookupResult');

const int = () => z.number().int();
const TierStatsSchema = z
  .object({
    location: z.string().openapi({ description: 's3://bucket/prefix/ or a folder' }),
    tieredSegments: int(),
    tieredMinOffset: int(),
    tieredMaxOffset: int(),
    tieringLagBytes: int().openapi({ description: 'CommitLog bytes not yet in tiered segments, the active segment included' }),
    tieringLagSeconds: z.number().openapi({ description: 'How long the oldest sealed segment has waited for its upload' }),
    segmentsUploaded: int(),
    bytesUploaded: int(),
    lastUploadBytesPerSec: z.number(),
    uploadFailures: int(),
    cacheHits: int(),
    cacheMisses: int(),
    cacheHitRatio: z.number(),
    cacheBytes: int(),
    prefetches: int(),
    s3Requests: z.object({ put: int(), uploadPart: int(), get: int(), list: int(), delete: int(), errors: int() }),
    wal: z
      .object({ durableEnd: int(), pendingBytes: int(), chunksUploaded: int(), bytesUploaded: int(), uploadFailures: int(), ackTimeouts: int() })
      .nullable()
      .openapi({ description: 'Durability s3: the write-ahead log' }),
  })
  .partial()
  .nullable()
  .openapi({ description: 'Tiered storage; null when the broker has none' });

export const BrokerSchema = z
  .object({
    cluster: z.string(),
    brokerName: z.string(),
    brokerId: int(),
    addr: z.string(),
    lastHeartbeatMs: int(),
    startedAt: int(),
    expiresAtMs: int(),
    alive: z.boolean(),
    stats: z.looseObject({ tier: TierStatsSchema.optional() }).nullable().openapi({
      description:
        "The broker's store figures from its /v1/stats (put rate and bytes, flush latency, CommitLog offsets, RSS); null when it did not answer within 1 s",
    }),
  })
  .openapi('Broker');

export const ClusterSchema = z.object({ brokers: z.array(BrokerSchema) }).openapi('Cluster');

export const HealthSchema = z
  .object({
    status: z.literal('ok'),
    pid: int().openapi({ description: 'The process id (the local launcher tells its own child from another process on the port)' }),
  })
  .openapi('Health');

/** A consumer group as a path parameter: the rules validateGroup applies. */
export const groupSchemaDoc = {
  type: 'string' as const,
  pattern: GROUP_PATTERN.source,
  description: `Not starting with a reserved prefix (${RESERVED_GROUP_PREFIXES.join(', ')})`,
};

const consumeFromSchema = z.union([z.enum(['latest', 'earliest']), int().min(0)]).openapi({
  description:
    "Where the group starts on a queue it never consumed: 'latest' (messages stored after the group was created), 'earliest', or a time in ms since the epoch",
});

export const SubscriptionGroupSchema = z
  .object({
    group: z.string(),
    retryMaxTimes: int().openapi({ description: 'Redeliveries before a message goes to %DLQ%{group}' }),
    orderly: z.boolean().openapi({ description: "Each queue's messages in order, one batch at a time" }),
    consumeFrom: consumeFromSchema,
    createdAt: int(),
  })
  .openapi('SubscriptionGroup');

export const GroupListSchema = z.object({ groups: z.array(SubscriptionGroupSchema) }).openapi('GroupList');

/** Documents PUT /v1/groups/{group}'s body; validatePutGroupRequest checks it (as the NameServer does). */
export const PutGroupSchema = z
  .object({
    retryMaxTimes: int()
      .min(0)
      .max(ConsumeLimits.MAX_RETRY_TIMES)
      .optional()
      .openapi({ description: `Default ${GroupDefaults.RETRY_MAX_TIMES} for a new group; absent: unchanged` }),
    orderly: z
      .boolean()
      .optional()
      .openapi({ description: `Default ${GroupDefaults.ORDERLY}; absent: unchanged` }),
    consumeFrom: consumeFromSchema.optional(),
  })
  .strict()
  .openapi('PutGroup');

/** An answer of a JSON component. */
export const json = <T extends z.ZodType>(schema: T, description = 'OK') => ({ description, content: { 'application/json': { schema } } });

/** An error answer; `description` names its codes. */
export const failure = (description: string) => json(ErrorSchema, description);
