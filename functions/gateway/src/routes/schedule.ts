/**
 * Cancel a scheduled message before it fires (RocketMQ 5's RecallMessage):
 *
 *   DELETE /v1/topics/{topic}/messages/{messageId}/schedule
 *       asks every broker of the topic (the gateway does not know which one took the send);
 *       200 from the one holding it pending, else 409 TIMER_ALREADY_FIRED when one has it in
 *       its queue, else 404 TIMER_NOT_FOUND; 503 when none had it and some did not answer.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { CirrusError, cancelScheduled } from '@cirrusmq/client/protocol';
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

export function scheduleRoutes(app: OpenAPIHono, { routes, brokers }: GatewayDeps): void {
  app.openapi(cancelScheduleRoute, async (c) => {
    const { topic, messageId } = c.req.valid('param');
    return c.json(await cancelScheduled(brokers, topicMasters(await routes.get(topic)), topic, messageId), 200);
  });
}
