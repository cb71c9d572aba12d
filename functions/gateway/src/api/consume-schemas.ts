/**
 * The consume API's shapes (DESIGN.md "The consume API"): request bodies checked by zod with
 * the contract's limits (ConsumeLimits), answers described for the OpenAPI document.
 */
import { z } from '@hono/zod-openapi';
import { buildSubscriptionData, ConsumeLimits, validateConsumeFrom } from '@cirrusmq/client/protocol';
import { checked } from './check';
import { groupParam, topicParam } from './params';

const MAX_INVISIBLE_SECONDS = ConsumeLimits.MAX_INVISIBLE_MS / 1000;
const MAX_WAIT_SECONDS = ConsumeLimits.MAX_WAIT_MS / 1000;
/** Dead letters sent back by one redrive request: bounded so a request ends well inside API Gateway's 30 s. */
export const MAX_REDRIVE = 10_000;

export const TopicGroupParams = z.object({ topic: topicParam, group: groupParam });

const int = () => z.number().int();
const receiptHandles = z.array(z.string().min(1).max(ConsumeLimits.MAX_RECEIPT_HANDLE_CHARS)).min(1).max(ConsumeLimits.MAX_ACK_ENTRIES);
const invisibleSeconds = () =>
  int()
    .min(ConsumeLimits.MIN_INVISIBLE_MS / 1000)
    .max(MAX_INVISIBLE_SECONDS);

export const ReceiveRequestSchema = z
  .object({
    max: int().min(1).max(ConsumeLimits.MAX_RECEIVE).default(16).openapi({ description: 'Messages at most' }),
    invisibleSeconds: invisibleSeconds().default(30).openapi({ description: 'How long the received messages stay invisible to the group unless acked' }),
    waitSeconds: int().min(0).max(MAX_WAIT_SECONDS).default(0).openapi({ description: 'Long polling: when no message is there, wait up to this long for one' }),
    filter: z
      .string()
      .max(4096)
      .optional()
      .transform((raw, ctx) => (raw === undefined ? undefined : checked(() => buildSubscriptionData(raw).subString, ctx)))
      .openapi({ type: 'string', description: 'Tag expression: "*" (default) or tags joined by "||"' }),
    ack: receiptHandles.optional().openapi({
      description:
        "Receipt handles of this topic and group to ack before receiving, as the ack route would: one request per batch where a consumer acks the last batch and asks for the next. Their results are the answer's ackResults; a long-polling receive answers them when it answers",
    }),
  })
  .openapi('ReceiveRequest');

export const AckRequestSchema = z.object({ receiptHandles }).openapi('AckRequest');

export const ChangeInvisibilityRequestSchema = z
  .object({
    entries: z
      .array(
        z.object({
          receiptHandle: z.string().min(1).max(ConsumeLimits.MAX_RECEIPT_HANDLE_CHARS),
          invisibleSeconds: int().min(0).max(MAX_INVISIBLE_SECONDS).openapi({
            description:
              'The lease ends this many seconds from now. 0 hands the message back unhandled: deliverable again at once, and this delivery is not counted as an attempt (as the SDK does with what it leased but never gave the application)',
          }),
        }),
      )
      .min(1)
      .max(ConsumeLimits.MAX_ACK_ENTRIES),
  })
  .openapi('ChangeInvisibilityRequest');

export const CommitOffsetRequestSchema = z
  .object({ broker: z.string().min(1).max(64), queueId: int().min(0), offset: int().min(0) })
  .openapi('CommitOffsetRequest');

export const ResetRequestSchema = z
  .object({
    to: z
      .union([z.literal('earliest'), z.literal('latest'), z.number()])
      .transform((v, ctx) => checked(() => validateConsumeFrom('to', v), ctx))
      .openapi({ description: '"earliest", "latest" or a time in ms since the epoch (the first message stored at or after it)' }),
  })
  .openapi('ResetRequest');

export const RedriveRequestSchema = z.object({ max: int().min(1).max(MAX_REDRIVE).default(1000) }).openapi('RedriveRequest');

export const ReceivedMessageSchema = z
  .object({
    messageId: z.string(),
    receiptHandle: z.string().openapi({ description: 'Opaque; names its lease. Ack or change-invisibility with it' }),
    deliveryAttempt: int().openapi({ description: '1 on the first delivery' }),
    body: z.string(),
    bodyEncoding: z.enum(['utf8', 'base64']),
    tags: z.string().optional(),
    keys: z.array(z.string()),
    properties: z.record(z.string(), z.string()),
    broker: z.string(),
    queueId: int(),
    queueOffset: int(),
    bornTimestamp: int(),
    storeTimestamp: int(),
  })
  .openapi('ReceivedMessage');

const entryFailure = z.object({ status: z.literal('FAILED'), error: z.object({ code: z.string(), message: z.string() }) });
const ackResults = z.array(z.union([z.object({ status: z.literal('OK') }), entryFailure]));

export const AckResultsSchema = z.object({ results: ackResults.openapi({ description: 'One per receipt handle, in order' }) }).openapi('AckResults');

export const ReceiveResultSchema = z
  .object({
    messages: z.array(ReceivedMessageSchema),
    ackResults: ackResults.optional().openapi({ description: "One per handle of the request's ack, in order; absent when it had none" }),
  })
  .openapi('ReceiveResult');

/** The receive answer as POP_PARTS (client api/pop-parts.ts), for a request whose Accept lists that type. */
export const ReceivePopPartsSchema = z.string().openapi({
  type: 'string',
  format: 'binary',
  description:
    'Until the body ends (empty: no message): uint16 BE broker name length, the broker name (UTF-8), uint32 BE part length, then the part: that broker\'s POP answer (uint32 BE meta length, meta JSON {"messages":[{receiptHandle,deliveryAttempt,queueId,queueOffset}]}, then the stored records back to back in the order of meta.messages, in the CommitLog record layout). The same messages as the JSON answer; the SDK asks for it. When the request carried ack, the body starts with one more part whose broker name is empty: the ack results as JSON (the JSON answer\'s ackResults).',
});

export const ChangeInvisibilityResultsSchema = z
  .object({
    results: z
      .array(
        z.union([
          z.object({ status: z.literal('OK'), receiptHandle: z.string().openapi({ description: 'The new handle; the old one no longer works' }) }),
          entryFailure,
        ]),
      )
      .openapi({ description: 'One per entry, in order' }),
  })
  .openapi('ChangeInvisibilityResults');

export const GroupProgressSchema = z
  .object({
    topic: z.string(),
    group: z.string(),
    queues: z.array(
      z.object({
        broker: z.string(),
        queueId: int(),
        minOffset: int(),
        maxOffset: int(),
        committedOffset: int().openapi({ description: 'The smallest offset still leased, or the cursor when none is' }),
        cursor: int().openapi({ description: 'The next offset a receive reads' }),
        inFlight: int(),
        lag: int().openapi({ description: 'maxOffset - committedOffset' }),
      }),
    ),
    totals: z.object({ maxOffset: int(), committedOffset: int(), inFlight: int(), lag: int() }),
    retried: int().openapi({ description: 'Redeliveries since each broker started' }),
    deadLettered: int().openapi({ description: 'Messages sent to %DLQ%{group} since each broker started' }),
    unreachableBrokers: z.array(z.string()).optional().openapi({ description: 'Brokers that failed to answer (left out); absent when all answered' }),
  })
  .openapi('GroupProgress');

export const RedriveResultSchema = z
  .object({
    redriven: int(),
    failed: int().openapi({
      description: 'Dead letters that could not be sent back (no origin topic, or the send failed); they stay in the dead-letter topic',
    }),
  })
  .openapi('RedriveResult');
