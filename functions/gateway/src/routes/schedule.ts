/**
 * Cancel a scheduled message before it fires (RocketMQ 5's RecallMessage):
 *
 *   DELETE /v1/topics/{topic}/messages/{messageId}/schedule
 *       asks every broker of the topic (the gateway does not know which one took the send);
 *       200 from the one holding it pending, else 409 TIMER_ALREADY_FIRED when one has it in
 *       its queue, else 404 TIMER_NOT_FOUND; 503 when none had it and some did not answer.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { CirrusError, errorFromBody, HttpClient, parseJson, toCirrusError } from '@cirrusmq/client/protocol';
import { pathParam } from '../api/check';
import { topicParam } from '../api/params';
import { failure, json } from '../api/schemas';
import { topicMasters } from '../broker-route';
import type { GatewayDeps } from '../deps';

const MESSAGE_ID = /^[0-9A-Fa-f]{1,64}$/;

const CancelledSchema = z
  .object({
    messageId: z.string(),
    brokerName: z.string(),
    deliverAt: z.number().int().openapi({ description: 'When it would have been delivered, epoch ms' }),
  })
  .openapi('ScheduleCancelled');

const cancelScheduleRoute = createRoute({
  method: 'delete',
  path: '/v1/topics/{topic}/messages/{messageId}/schedule',
  operationId: 'cancelSchedule',
  tags: ['messages'],
  summary: 'Cancel a scheduled message',
  description: 'Cancels a message sent with deliverAt, delaySeconds or delayTimeLevel before it is delivered, by the messageId its send answered.',
  request: {
    params: z.object({
      topic: topicParam,
      messageId: pathParam((raw) => {
        if (!MESSAGE_ID.test(raw)) throw new CirrusError('INVALID_PARAMETER', 'messageId must be the hex id a send answered');
        return raw;
      }).openapi({ type: 'string', param: { name: 'messageId', in: 'path' } }),
    }),
  },
  responses: {
    200: json(CancelledSchema, 'Cancelled: it will not be delivered'),
    400: failure('INVALID_TOPIC, INVALID_PARAMETER'),
    404: failure('TOPIC_NOT_FOUND; TIMER_NOT_FOUND: no broker holds a pending scheduled message with that id (never scheduled, or cancelled already)'),
    409: failure('TIMER_ALREADY_FIRED: it has been delivered to its queue'),
    503: failure('NO_ROUTE; BROKER_UNAVAILABLE: not pending on the brokers that answered, and some did not'),
  },
});

export function scheduleRoutes(app: OpenAPIHono, { routes }: GatewayDeps): void {
  // The broker's cancel call is not on BrokerClient (another part's file): a small pool per broker here.
  const clients = new Map<string, HttpClient>();
  const client = (addr: string) => {
    let c = clients.get(addr);
    if (!c) clients.set(addr, (c = new HttpClient(addr, { maxSockets: 4, timeoutMs: 5_000 })));
    return c;
  };
  app.openapi(cancelScheduleRoute, async (c) => {
    const { topic, messageId } = c.req.valid('param');
    const targets = topicMasters(await routes.get(topic));
    if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
    const query = `topic=${encodeURIComponent(topic)}&messageId=${encodeURIComponent(messageId)}`;
    const settled = await Promise.allSettled(
      targets.map(async (b) => {
        const res = await client(b.addr).request({ method: 'POST', path: `/v1/timer/cancel?${query}` });
        const body = parseJson(res.body);
        if (res.status !== 200) throw errorFromBody(res.status, body);
        return body as z.infer<typeof CancelledSchema>;
      }),
    );
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [toCirrusError(s.reason)] : []));
    const done = settled.find((s) => s.status === 'fulfilled');
    if (done) return c.json(done.value, 200);
    const fired = errors.find((e) => e.code === 'TIMER_ALREADY_FIRED');
    if (fired) throw fired;
    const other = errors.find((e) => e.code !== 'TIMER_NOT_FOUND');
    if (other)
      throw other.status < 500 ? other : new CirrusError('BROKER_UNAVAILABLE', `message ${messageId} is pending on no broker that answered: ${other.message}`);
    throw new CirrusError('TIMER_NOT_FOUND', `no pending scheduled message ${messageId} in topic ${topic}`);
  });
}
