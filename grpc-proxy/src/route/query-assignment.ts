/** QueryAssignment (PushConsumer): the queues a consumer of the group should receive from. */
import { validateUserTopic } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { resourceName, unary } from '../rpc.js';
import { okStatus, RmqStatusError } from '../status.js';
import { assignmentQueues } from './message-queues.js';
import { requestEndpoints } from './request-endpoints.js';

export function queryAssignment(ctx: ProxyContext) {
  return unary('QueryAssignment', ctx.logger, async (req: any) => {
    const topic = validateUserTopic(resourceName(req.topic));
    const group = resourceName(req.group);
    if (!group) throw new RmqStatusError('ILLEGAL_CONSUMER_GROUP', 'group is required');
    const [info, settings] = await Promise.all([ctx.routes.get(topic), ctx.groups.get(group)]);
    const endpoints = requestEndpoints(req.endpoints, ctx.config);
    const queues = assignmentQueues(info.route, endpoints, settings.orderly, req.topic?.resource_namespace ?? '');
    return { status: okStatus(), assignments: queues.map((message_queue) => ({ message_queue })) };
  });
}
