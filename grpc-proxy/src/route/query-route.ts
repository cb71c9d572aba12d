/** QueryRoute: the topic's queues, every one served at the endpoints the client asked through. */
import { validateUserTopic } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { resendSettingsAfterRoute } from '../client/telemetry.js';
import { clientIdOf, resourceName, unary } from '../rpc.js';
import { okStatus } from '../status.js';
import { routeMessageQueues } from './message-queues.js';
import { requestEndpoints } from './request-endpoints.js';

export function queryRoute(ctx: ProxyContext) {
  return unary('QueryRoute', ctx.logger, async (req: any, call) => {
    const topic = validateUserTopic(resourceName(req.topic));
    let info = await ctx.routes.get(topic);
    if (!info.ok()) info = await ctx.routes.refresh(topic);
    const endpoints = requestEndpoints(req.endpoints, ctx.config);
    const answer = { status: okStatus(), message_queues: routeMessageQueues(info.route, endpoints, req.topic?.resource_namespace ?? '') };
    resendSettingsAfterRoute(ctx, clientIdOf(call));
    return answer;
  });
}
