/**
 * Consumer group administration (RocketMQ's SubscriptionGroupConfig): the NameServer holds
 * the config; the gateway checks and forwards. A group also comes to exist on its first
 * receive, with the defaults; PUT sets them ahead of time or changes them.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { validateGroup, validatePutGroupRequest } from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import { GroupParams } from '../api/params';
import { failure, GroupListSchema, json, PutGroupSchema, SubscriptionGroupSchema } from '../api/schemas';
import type { GatewayDeps } from '../deps';

const putGroupRoute = createRoute({
  method: 'put',
  path: '/v1/groups/{group}',
  operationId: 'putGroup',
  tags: ['groups'],
  summary: 'Create a consumer group or change its settings (fields left out keep their value, or the default for a new group)',
  request: {
    params: GroupParams,
    body: { required: false, content: { 'application/json': { schema: PutGroupSchema } } },
  },
  responses: {
    201: json(SubscriptionGroupSchema, 'Created'),
    200: json(SubscriptionGroupSchema, 'Updated'),
    400: failure(
      'INVALID_GROUP (bad name or reserved prefix), INVALID_PARAMETER (retryMaxTimes, orderly, consumeFrom, unknown field), INVALID_JSON, BAD_REQUEST (not an object)',
    ),
    415: failure('UNSUPPORTED_MEDIA_TYPE: a body that is not JSON'),
  },
});

const listGroupsRoute = createRoute({
  method: 'get',
  path: '/v1/groups',
  operationId: 'listGroups',
  tags: ['groups'],
  summary: 'List consumer groups',
  responses: { 200: json(GroupListSchema) },
});

const getGroupRoute = createRoute({
  method: 'get',
  path: '/v1/groups/{group}',
  operationId: 'getGroup',
  tags: ['groups'],
  summary: "Describe a consumer group's settings",
  request: { params: GroupParams },
  responses: { 200: json(SubscriptionGroupSchema), 400: failure('INVALID_GROUP'), 404: failure('GROUP_NOT_FOUND') },
});

const deleteGroupRoute = createRoute({
  method: 'delete',
  path: '/v1/groups/{group}',
  operationId: 'deleteGroup',
  tags: ['groups'],
  summary: "Delete a consumer group's settings (a later receive creates it again with the defaults)",
  request: { params: GroupParams },
  responses: { 204: { description: 'Deleted' }, 400: failure('INVALID_GROUP'), 404: failure('GROUP_NOT_FOUND') },
});

export function groupRoutes(app: OpenAPIHono, { nameServer }: GatewayDeps): void {
  // The body is optional (`curl -X PUT …/v1/groups/g` takes the defaults), so it is read here, not by the schema.
  app.openAPIRegistry.registerPath(putGroupRoute);
  app.put('/v1/groups/:group', async (c) => {
    const group = validateGroup(c.req.param('group'));
    const req = validatePutGroupRequest(await readOptionalJsonObject(c));
    const { created, group: config } = await nameServer.putGroup(group, req);
    return c.json(config, created ? 201 : 200);
  });

  app.openapi(listGroupsRoute, async (c) => c.json({ groups: await nameServer.listGroups() }, 200));

  app.openapi(getGroupRoute, async (c) => c.json(await nameServer.getGroup(c.req.valid('param').group), 200));

  app.openapi(deleteGroupRoute, async (c) => {
    await nameServer.deleteGroup(c.req.valid('param').group);
    return c.body(null, 204);
  });
}

/** No body at all (no content type, no length) counts as {}; anything else must be a JSON object. */
async function readOptionalJsonObject(c: Context): Promise<Record<string, unknown>> {
  const noBody = !c.req.header('content-type') && !c.req.header('transfer-encoding') && !Number(c.req.header('content-length') ?? 0);
  return noBody ? {} : readJsonObject(c);
}
