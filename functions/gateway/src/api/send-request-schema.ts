/**
 * The send request (POST /v1/topics/{topic}/messages) as a zod schema, for the OpenAPI
 * document only: the route parses with message-json.ts parseMessages and the producer's
 * validation, hand-tuned for 1000 messages a request (zod costs an object and a closure per
 * field per message on the benchmarked path). send-request-schema.test.ts feeds both the same
 * bodies and checks they accept and refuse alike, so the document cannot drift from the parser.
 *
 * Not expressible here, so only described: the batch must fit one broker request after
 * deflate (bodies over 4 KiB are compressed first), and the request size limit.
 */
import { z } from '@hono/zod-openapi';
import { DELAY_LEVELS_MS, isWellFormedText, KEY_SEPARATOR, Limits, MessageConst } from '@cirrusmq/client/protocol';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SEPARATORS = /[\u0001\u0002]/;
const RESERVED = new Set<string>(Object.values(MessageConst));
const text = (what: string) => ({ message: `${what} must be valid Unicode text`, check: isWellFormedText });

const wellFormed = (what: string) => z.string().refine(text(what).check, text(what).message);

const SendMessageSchema = z
  .object({
    body: z.string().openapi({ description: `Valid Unicode text (utf8) or base64; 1 to ${Limits.MAX_BODY_BYTES} bytes decoded` }),
    bodyEncoding: z.enum(['utf8', 'base64']).optional().openapi({ default: 'utf8' }),
    tags: wellFormed('tags')
      .min(1)
      .max(Limits.TAG_MAX_LENGTH)
      .refine((t) => !t.includes('||') && !SEPARATORS.test(t), 'tags must not contain "||" or control separators')
      .optional(),
    keys: z
      .array(
        wellFormed('a key')
          .min(1)
          .refine((k) => !SEPARATORS.test(k) && !k.includes(KEY_SEPARATOR), 'keys hold no spaces or control separators'),
      )
      .optional()
      .openapi({ description: 'Non-empty strings without spaces (keys are stored joined by a space)' }),
    properties: z
      .record(z.string(), z.string())
      .refine(
        (p) =>
          Object.entries(p).every(
            ([n, v]) => n.length > 0 && !SEPARATORS.test(n) && !SEPARATORS.test(v) && !RESERVED.has(n) && isWellFormedText(n) && isWellFormedText(v),
          ),
        'property names and values: valid text, no control separators, no reserved name',
      )
      .refine((p) => propertiesBytes(p) <= Limits.MAX_PROPERTIES_BYTES, `properties are larger than ${Limits.MAX_PROPERTIES_BYTES} bytes`)
      .optional()
      .openapi({
        description: `User properties, at most ${Limits.MAX_PROPERTIES_BYTES} bytes (name + value + 2 each); reserved names (${[...RESERVED].join(', ')}) are refused`,
      }),
    shardingKey: wellFormed('shardingKey').min(1).optional().openapi({ description: 'Messages with one go to the queue its hash picks, in order' }),
    deliverAt: z.number().int().min(0).optional().openapi({
      description:
        "Scheduled delivery: visible in its queue no earlier than this epoch ms (a past time delivers at once); at most the brokers' horizon ahead (40 days by default, else 400 INVALID_DELAY)",
    }),
    delaySeconds: z.number().int().min(0).optional().openapi({ description: 'Scheduled delivery this many seconds after the broker receives it' }),
    delayTimeLevel: z.number().int().min(1).max(DELAY_LEVELS_MS.length).optional().openapi({
      description: "RocketMQ 4's delay level: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
    }),
  })
  .superRefine((m, ctx) => {
    if ((m.deliverAt !== undefined ? 1 : 0) + (m.delaySeconds !== undefined ? 1 : 0) + (m.delayTimeLevel !== undefined ? 1 : 0) > 1)
      ctx.addIssue({ code: 'custom', path: ['deliverAt'], message: 'at most one of deliverAt, delaySeconds and delayTimeLevel' });
    const bytes = bodyBytes(m.body, m.bodyEncoding ?? 'utf8');
    if (bytes === undefined) ctx.addIssue({ code: 'custom', path: ['body'], message: 'body is not valid text / base64' });
    else if (bytes === 0 || bytes > Limits.MAX_BODY_BYTES)
      ctx.addIssue({ code: 'custom', path: ['body'], message: `body must be 1 to ${Limits.MAX_BODY_BYTES} bytes` });
  })
  .openapi('SendMessage');

export const SendRequestSchema = z
  .object({
    messages: z.array(SendMessageSchema).min(1).max(Limits.MAX_BATCH_MESSAGES),
    transaction: z.boolean().optional().openapi({
      description:
        'true: each message is a half message of its own transaction, stored but invisible to consumers until POST /v1/transactions/{transactionId}/commit (rollback discards it); needs producerGroup; not with mode=oneway nor a schedule',
    }),
    producerGroup: z
      .string()
      .optional()
      .openapi({ description: "transaction: the group its check-backs go to (the group's checkUrl, or a long poll of GET /v1/transactions/checks)" }),
  })
  .openapi('SendRequest');

/** The decoded body's length, or undefined when it is not valid text / base64. */
function bodyBytes(body: string, encoding: 'utf8' | 'base64'): number | undefined {
  if (encoding === 'base64') return BASE64.test(body) ? Buffer.from(body, 'base64').length : undefined;
  return isWellFormedText(body) ? Buffer.byteLength(body, 'utf8') : undefined;
}

function propertiesBytes(p: Record<string, string>): number {
  let bytes = 0;
  for (const [n, v] of Object.entries(p)) bytes += Buffer.byteLength(n) + Buffer.byteLength(v) + 2;
  return bytes;
}
