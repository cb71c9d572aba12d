/** The OpenAPI 3.1 document of the gateway's v1 API, served at GET /openapi.json. */
import { Limits } from '@cirrusmq/client/protocol';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BASE64_CHARS, MAX_READ_ANSWER_BYTES, MAX_SEND_REQUEST_BYTES } from './limits';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const topicParam = { name: 'topic', in: 'path', required: true, schema: { type: 'string', pattern: '^[%|a-zA-Z0-9_-]+$', maxLength: Limits.TOPIC_MAX_LENGTH } };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'CirrusMQ gateway',
    version: '1',
    description:
      'Produce and read RocketMQ-style messages over HTTP. Errors are {"error":{"code","message"}}, with an optional "details" object of facts some errors carry (OFFSET_BELOW_MINIMUM: details.minOffset).',
  },
  paths: {
    '/healthz': { get: { summary: 'Liveness', responses: { 200: json({ type: 'object', properties: { status: { const: 'ok' }, pid: { type: 'integer', description: 'The process id (the local launcher tells its own child from another process on the port)' } } }) } } },
    '/v1/topics': {
      get: { summary: 'List topics', responses: { 200: json({ type: 'object', properties: { topics: { type: 'array', items: ref('TopicInfo') } } }) } },
      post: {
        summary: 'Create a topic on every live broker',
        requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTopic') } } },
        responses: {
          201: json(ref('TopicInfo'), 'Created'),
          200: json(ref('TopicInfo'), 'Existed already with the same queues'),
          400: errorResponse('Invalid topic name, reserved prefix or queue count'),
          409: errorResponse('TOPIC_EXISTS: exists with another queue count'),
          415: errorResponse('Not JSON'),
          503: errorResponse('NO_LIVE_BROKER'),
        },
      },
    },
    '/v1/topics/{topic}': {
      parameters: [topicParam],
      get: { summary: 'Describe a topic', responses: { 200: json(ref('TopicInfo')), 404: errorResponse('TOPIC_NOT_FOUND') } },
      delete: { summary: 'Delete a topic', responses: { 204: { description: 'Deleted' }, 404: errorResponse('TOPIC_NOT_FOUND') } },
    },
    '/v1/topics/{topic}/route': {
      parameters: [topicParam],
      get: { summary: 'TopicRouteData (live brokers only)', responses: { 200: json(ref('TopicRouteData')), 404: errorResponse('TOPIC_NOT_FOUND') } },
    },
    '/v1/topics/{topic}/messages': {
      parameters: [topicParam],
      post: {
        summary: 'Send messages',
        description:
          `Up to ${Limits.MAX_BATCH_MESSAGES} messages a request. Sizes: a request body of at most ${MAX_SEND_REQUEST_BYTES} bytes (5.5 MiB: room for base64 of a ${Limits.MAX_BODY_BYTES}-byte body, ${MAX_BODY_BASE64_CHARS} characters, plus JSON; under API Gateway HTTP API's 10 MB and Lambda's ${LAMBDA_PAYLOAD_BYTES}-byte request payload); each body at most ${Limits.MAX_BODY_BYTES} bytes (4 MiB) DECODED; the batch must fit one broker request (${Limits.MAX_SEND_REQUEST_BYTES} bytes of encoded records). ` +
          'Text (bodies with bodyEncoding "utf8", tags, keys, properties, shardingKey) must be valid Unicode: a lone surrogate or request bytes that are not UTF-8 answer 400 INVALID_TEXT; send binary bodies as bodyEncoding "base64". ' +
          'Behind API Gateway, the request travels in a Lambda event as a JSON string: a text body heavy in quotes, backslashes or control characters weighs more there (each gains a backslash) and may exceed Lambda\'s limit before this one; base64 does not grow. ' +
          'Messages without a shardingKey go to one queue chosen round-robin; messages with one go to the queue its hash picks, in order.',
        parameters: [{ name: 'mode', in: 'query', schema: { enum: ['sync', 'oneway'], default: 'sync' } }],
        requestBody: { required: true, content: { 'application/json': { schema: ref('SendRequest') } } },
        responses: {
          200: json({ type: 'object', properties: { results: { type: 'array', items: ref('SendResult') } } }, 'One result per message, in order'),
          202: json(
            { type: 'object', properties: { accepted: { type: 'integer' } } },
            'mode=oneway: checked and routed (an unknown topic is a 404, no live broker a 503, as for sync), then sent without waiting; failures after the 202 are logged and counted in /metrics (cirrusmq_gateway_oneway_messages_failed_total)',
          ),
          400: errorResponse('INVALID_JSON, INVALID_TEXT (not valid Unicode / UTF-8), INVALID_MESSAGE, EMPTY_BATCH, TOO_MANY_MESSAGES, INVALID_TOPIC, RESERVED_TOPIC'),
          404: errorResponse('TOPIC_NOT_FOUND (also for mode=oneway)'),
          413: errorResponse(`PAYLOAD_TOO_LARGE: a request over ${MAX_SEND_REQUEST_BYTES} bytes, a body over ${Limits.MAX_BODY_BYTES} bytes decoded, or a batch over one broker request`),
          415: errorResponse('UNSUPPORTED_MEDIA_TYPE'),
          503: errorResponse('NO_ROUTE: no live broker serves the topic (retriable)'),
        },
      },
      get: {
        summary: 'Read a queue from an offset',
        description: `An answer weighs at most ${MAX_READ_ANSWER_BYTES} bytes counted as a Lambda result (its JSON, plus a byte per '"' and '\\'), to fit Lambda's ${LAMBDA_PAYLOAD_BYTES}-byte response: it may hold fewer than max messages, with nextOffset at the first one left out, so read on from nextOffset. One message always fits; a text body that would escape too large comes as base64.`,
        parameters: [
          { name: 'broker', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'queueId', in: 'query', required: true, schema: { type: 'integer', minimum: 0 } },
          { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          { name: 'max', in: 'query', schema: { type: 'integer', minimum: 1, maximum: Limits.MAX_READ_BATCH, default: 32 } },
          {
            name: 'tag',
            in: 'query',
            description:
              'Subscription expression: "*" (default) for all, or tags joined by "||" ("TagA || TagB"). Messages of other tags are skipped and still advance nextOffset, so an answer may hold no message while nextOffset moves on: read on until nextOffset reaches maxOffset.',
            schema: { type: 'string', default: '*', maxLength: 4096 },
          },
        ],
        responses: {
          200: json(ref('ReadResult')),
          400: errorResponse('INVALID_PARAMETER (bad offset, max or tag expression)'),
          404: errorResponse('TOPIC_NOT_FOUND, BROKER_NOT_FOUND, QUEUE_NOT_FOUND; OFFSET_BELOW_MINIMUM: the offset was deleted by retention, error.details.minOffset is where the queue starts now'),
          503: errorResponse('BROKER_UNAVAILABLE'),
        },
      },
    },
    '/v1/topics/{topic}/messages/by-key/{key}': {
      parameters: [topicParam, { name: 'key', in: 'path', required: true, description: 'One of the keys the messages were sent with (percent-encode "/", "#", "?")', schema: { type: 'string' } }],
      get: {
        summary: 'Look up messages by key',
        description: `Asks every broker of the topic through its key index. Answers the newest \`max\` matches stored within [begin, end], oldest first. Capped as reads are (${MAX_READ_ANSWER_BYTES} bytes): the oldest matches are left out first and "truncated" is true; ask again with end = the oldest storeTimestamp answered (messages of that millisecond come again).`,
        parameters: [
          { name: 'begin', in: 'query', description: 'Earliest storeTimestamp, ms since the epoch', schema: { type: 'integer', minimum: 0, default: 0 } },
          { name: 'end', in: 'query', description: 'Latest storeTimestamp, ms since the epoch (default: no limit)', schema: { type: 'integer', minimum: 0 } },
          { name: 'max', in: 'query', schema: { type: 'integer', minimum: 1, maximum: Limits.MAX_READ_BATCH, default: 32 } },
        ],
        responses: {
          200: json(ref('LookupResult')),
          400: errorResponse('INVALID_TOPIC, INVALID_PARAMETER'),
          404: errorResponse('TOPIC_NOT_FOUND'),
          503: errorResponse('NO_ROUTE, BROKER_UNAVAILABLE (every broker failed)'),
        },
      },
    },
    '/v1/messages/{messageId}': {
      parameters: [{ name: 'messageId', in: 'path', required: true, description: 'The messageId a send answered (UNIQ_KEY)', schema: { type: 'string' } }],
      get: {
        summary: 'Look up a message by id',
        description: 'Asks every live broker through its index. Usually one message; more when a retried send stored it twice (at-least-once). Capped as reads are ("truncated": true when copies were left out).',
        responses: {
          200: json(ref('LookupResult')),
          404: errorResponse('MESSAGE_NOT_FOUND: no broker holds it'),
          503: errorResponse('NO_LIVE_BROKER; BROKER_UNAVAILABLE: not on the brokers that answered, and some did not'),
        },
      },
    },
    '/v1/cluster': {
      get: { summary: 'Brokers, their last heartbeat and liveness', responses: { 200: json({ type: 'object', properties: { brokers: { type: 'array', items: ref('Broker') } } }) } },
    },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              details: { type: 'object', description: 'Facts some errors carry, e.g. {"minOffset": 120} for OFFSET_BELOW_MINIMUM', additionalProperties: true },
            },
          },
        },
      },
      CreateTopic: {
        type: 'object',
        required: ['topic', 'queues'],
        properties: { topic: topicParam.schema, queues: { type: 'integer', minimum: 1, maximum: Limits.MAX_QUEUES_PER_BROKER, description: 'Queues per broker' }, cluster: { type: 'string' } },
      },
      QueueData: {
        type: 'object',
        properties: { brokerName: { type: 'string' }, readQueueNums: { type: 'integer' }, writeQueueNums: { type: 'integer' }, perm: { type: 'integer' } },
      },
      TopicInfo: {
        type: 'object',
        properties: { topic: { type: 'string' }, queues: { type: 'integer' }, createdAt: { type: 'integer' }, brokers: { type: 'array', items: ref('QueueData') } },
      },
      TopicRouteData: {
        type: 'object',
        properties: {
          topic: { type: 'string' },
          queueDatas: { type: 'array', items: ref('QueueData') },
          brokerDatas: {
            type: 'array',
            items: { type: 'object', properties: { cluster: { type: 'string' }, brokerName: { type: 'string' }, brokerAddrs: { type: 'object', additionalProperties: { type: 'string' } } } },
          },
          filterServerTable: { type: 'object' },
        },
      },
      SendRequest: {
        type: 'object',
        required: ['messages'],
        properties: {
          messages: {
            type: 'array',
            minItems: 1,
            maxItems: Limits.MAX_BATCH_MESSAGES,
            items: {
              type: 'object',
              required: ['body'],
              properties: {
                body: { type: 'string', description: `Valid Unicode text (utf8) or base64; at most ${Limits.MAX_BODY_BYTES} bytes decoded` },
                bodyEncoding: { enum: ['utf8', 'base64'], default: 'utf8' },
                tags: { type: 'string' },
                keys: { type: 'array', items: { type: 'string' } },
                properties: { type: 'object', additionalProperties: { type: 'string' } },
                shardingKey: { type: 'string' },
              },
            },
          },
        },
      },
      SendResult: {
        type: 'object',
        properties: {
          status: {
            enum: ['SEND_OK', 'FLUSH_DISK_TIMEOUT', 'FLUSH_S3_TIMEOUT', 'FAILED'],
            description: 'FLUSH_DISK_TIMEOUT (SYNC_FLUSH) and FLUSH_S3_TIMEOUT (durability s3): stored, not yet known durable',
          },
          messageId: { type: 'string' },
          broker: { type: 'string' },
          queueId: { type: 'integer' },
          queueOffset: { type: 'integer' },
          error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
        },
      },
      ReadResult: {
        type: 'object',
        properties: {
          messages: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                messageId: { type: 'string' },
                queueOffset: { type: 'integer' },
                body: { type: 'string' },
                bodyEncoding: { enum: ['utf8', 'base64'] },
                tags: { type: 'string' },
                keys: { type: 'array', items: { type: 'string' } },
                properties: { type: 'object', additionalProperties: { type: 'string' } },
                bornTimestamp: { type: 'integer' },
                storeTimestamp: { type: 'integer' },
              },
            },
          },
          nextOffset: { type: 'integer' },
          minOffset: { type: 'integer' },
          maxOffset: { type: 'integer' },
        },
      },
      LookupResult: {
        type: 'object',
        properties: {
          messages: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                messageId: { type: 'string' },
                topic: { type: 'string' },
                broker: { type: 'string' },
                queueId: { type: 'integer' },
                queueOffset: { type: 'integer' },
                body: { type: 'string' },
                bodyEncoding: { enum: ['utf8', 'base64'] },
                tags: { type: 'string' },
                keys: { type: 'array', items: { type: 'string' } },
                properties: { type: 'object', additionalProperties: { type: 'string' } },
                bornTimestamp: { type: 'integer' },
                storeTimestamp: { type: 'integer' },
              },
            },
          },
          unreachableBrokers: { type: 'array', items: { type: 'string' }, description: 'Brokers that failed to answer (left out); absent when all answered' },
          truncated: { type: 'boolean', description: 'true when matches were left out to fit the answer size; absent otherwise' },
        },
      },
      Broker: {
        type: 'object',
        properties: {
          cluster: { type: 'string' },
          brokerName: { type: 'string' },
          brokerId: { type: 'integer' },
          addr: { type: 'string' },
          lastHeartbeatMs: { type: 'integer' },
          startedAt: { type: 'integer' },
          expiresAtMs: { type: 'integer' },
          alive: { type: 'boolean' },
          stats: {
            type: ['object', 'null'],
            description: "The broker's store figures from its /v1/stats (put rate and bytes, flush latency, CommitLog offsets, RSS); null when it did not answer within 1 s",
            properties: {
              tier: {
                type: ['object', 'null'],
                description: 'Tiered storage; null when the broker has none',
                properties: {
                  location: { type: 'string', description: 's3://bucket/prefix/ or a folder' },
                  tieredSegments: { type: 'integer' },
                  tieredMinOffset: { type: 'integer' },
                  tieredMaxOffset: { type: 'integer' },
                  tieringLagBytes: { type: 'integer', description: 'CommitLog bytes not yet in tiered segments, the active segment included' },
                  tieringLagSeconds: { type: 'number', description: 'How long the oldest sealed segment has waited for its upload' },
                  segmentsUploaded: { type: 'integer' },
                  bytesUploaded: { type: 'integer' },
                  lastUploadBytesPerSec: { type: 'number' },
                  uploadFailures: { type: 'integer' },
                  cacheHits: { type: 'integer' },
                  cacheMisses: { type: 'integer' },
                  cacheHitRatio: { type: 'number' },
                  cacheBytes: { type: 'integer' },
                  prefetches: { type: 'integer' },
                  s3Requests: {
                    type: 'object',
                    properties: { put: { type: 'integer' }, uploadPart: { type: 'integer' }, get: { type: 'integer' }, list: { type: 'integer' }, delete: { type: 'integer' }, errors: { type: 'integer' } },
                  },
                  wal: {
                    type: ['object', 'null'],
                    description: 'Durability s3: the write-ahead log',
                    properties: {
                      durableEnd: { type: 'integer' },
                      pendingBytes: { type: 'integer' },
                      chunksUploaded: { type: 'integer' },
                      bytesUploaded: { type: 'integer' },
                      uploadFailures: { type: 'integer' },
                      ackTimeouts: { type: 'integer' },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;
