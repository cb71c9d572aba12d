/** Path and query parameters shared by the routes, parsed by the project's validators. */
import { z } from '@hono/zod-openapi';
import { parseNonNegativeInt, validateGroup, validateLookupKey, validateTopic } from '@cirrusmq/client/protocol';
import { pathParam, queryParam } from './check';
import { groupSchemaDoc, topicSchemaDoc } from './schemas';

export const topicParam = pathParam(validateTopic).openapi({ ...topicSchemaDoc, param: { name: 'topic', in: 'path' } });

export const TopicParams = z.object({ topic: topicParam });

export const groupParam = pathParam(validateGroup).openapi({ ...groupSchemaDoc, param: { name: 'group', in: 'path' } });

export const GroupParams = z.object({ group: groupParam });

/** A non-negative integer query parameter; `fallback` when absent, required when there is none. */
export const intQuery = (name: string, doc: { minimum?: number; maximum?: number; default?: number; description?: string } = {}, fallback = doc.default) =>
  queryParam((raw) => parseNonNegativeInt(name, raw, fallback)).openapi({
    type: 'integer',
    minimum: 0,
    ...doc,
    param: { name, in: 'query', required: fallback === undefined },
  });

/** A message key or id in the path. */
export const lookupKeyParam = (name: string, description: string) =>
  pathParam((raw) => validateLookupKey(name, raw)).openapi({ type: 'string', description, param: { name, in: 'path' } });
