/**
 * Transactional messages over HTTP (RocketMQ's half messages):
 *
 *   POST /v1/topics/{topic}/messages {"transaction": true, "producerGroup": g, messages}
 *        the send route (messages.ts) with each message a half message; results carry a transactionId
 *   POST /v1/transactions/{transactionId}/commit | /rollback
 *        the id names its broker (client/src/producer/transaction-id.ts), so one broker call
 *   GET  /v1/transactions/checks?producerGroup=g&waitSeconds=20
 *        long poll for the check-backs due for a group, on every live broker at once
 *   PUT  /v1/producer-groups/{group} {"checkUrl": url | null}
 *        every live broker POSTs the group's check-backs to the URL, which answers COMMIT, ROLLBACK or UNKNOWN
 *
 * The send keeps its one route (a flag, not a route of its own): a transactional send is a send,
 * with the same body, limits, validation and answer, plus an id per message.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { PreparedBatch, SendOutcome } from '@cirrusmq/client';
import {
  type BrokerTransactionCheck,
  type ClusterBrokerInfo,
  type ErrorDetails,
  type TransactionEnded,
  CirrusError,
  decodeTransactionId,
  encodeTransactionId,
  isErrorCode,
  markHalfMessages,
  toCirrusError,
  validateGroup,
} from '@cirrusmq/client/protocol';
import { readJsonObject } from '../../../shared/http';
import { pathParam, queryParam } from '../api/check';
import { GroupParams } from '../api/params';
import { failure, json } from '../api/schemas';
import type { GatewayDeps } from '../deps';
import { resultsJson } from '../message-json';
import { TurnBatcher } from '../turn-batcher';

type EndAnswer = TransactionEnded | { error: { code: string; message: string; details?: ErrorDetails } };

/** Marks a send's messages as half messages when the body asks for a transaction; whether it did. */
export function markTransactional(batch: PreparedBatch, body: Record<string, unknown>, mode: string): boolean {
  if (body.transaction === undefined || body.transaction === false) return false;
  if (body.transaction !== true) throw new CirrusError('INVALID_PARAMETER', 'transaction must be true or false');
  if (mode === 'oneway') throw new CirrusError('INVALID_PARAMETER', 'a transactional send answers its transaction ids: not with mode=oneway');
  if (typeof body.producerGroup !== 'string') throw new CirrusError('INVALID_GROUP', 'a transactional send needs producerGroup (its check-backs go there)');
  markHalfMessages(batch.prepared, body.producerGroup);
  return true;
}

/** The send answer with each stored message's transactionId. */
export function transactionResultsJson(outcomes: readonly SendOutcome[]): string {
  const parsed = JSON.parse(resultsJson(outcomes)) as { results: Record<string, unknown>[] };
  parsed.results.forEach((r, i) => {
    const o = outcomes[i]!;
    if (o.status !== 'FAILED') r.transactionId = encodeTransactionId(o.messageQueue.brokerName, o.messageId);
  });
  return JSON.stringify(parsed);
}

const transactionIdParam = pathParam((raw) => ({ raw, ...decodeTransactionId(raw) })).openapi({
  type: 'string',
  description: 'The transactionId a transactional send answered',
  param: { name: 'transactionId', in: 'path' },
});

const EndedSchema = z
  .object({
    transactionId: z.string(),
    messageId: z.string(),
    resolution: z.enum(['COMMIT', 'ROLLBACK']),
    topic: z.string(),
    queueId: z.number().int(),
    queueOffset: z.number().int().optional().openapi({ description: 'COMMIT: the message offset in its queue' }),
  })
  .openapi('TransactionEnded');

const endRoute = (action: 'commit' | 'rollback') =>
  createRoute({
    method: 'post',
    path: `/v1/transactions/{transactionId}/${action}`,
    operationId: `${action}Transaction`,
    tags: ['transactions'],
    summary: action === 'commit' ? 'Commit a transactional message: it becomes visible in its queue' : 'Roll back a transactional message: it is discarded',
    request: { params: z.object({ transactionId: transactionIdParam }) },
    responses: {
      200: json(EndedSchema, action === 'commit' ? 'Committed' : 'Rolled back'),
      400: failure('INVALID_PARAMETER: not a transaction id'),
      404: failure('TRANSACTION_NOT_FOUND: no such pending or recently ended transaction; BROKER_NOT_FOUND: its broker is not in the cluster'),
      409: failure('TRANSACTION_ALREADY_ENDED: committed or rolled back already (error.details.resolution says which)'),
      503: failure('BROKER_UNAVAILABLE: its broker did not answer (retriable)'),
    },
  });

const CheckSchema = z
  .object({
    transactionId: z.string(),
    messageId: z.string(),
    topic: z.string(),
    queueId: z.number().int(),
    producerGroup: z.string(),
    checkTimes: z.number().int().openapi({ description: 'This is check number checkTimes' }),
    bornTimestamp: z.number().int(),
    storeTimestamp: z.number().int(),
    body: z.string(),
    bodyEncoding: z.enum(['base64']),
    tags: z.string().optional(),
    keys: z.array(z.string()),
    properties: z.record(z.string(), z.string()),
  })
  .openapi('TransactionCheck');

const checksRoute = createRoute({
  method: 'get',
  path: '/v1/transactions/checks',
  operationId: 'pollTransactionChecks',
  tags: ['transactions'],
  summary: "Long poll for a producer group's check-backs",
  description:
    'Answers the unresolved transactions of the group due for a check-back (first 6 s after the send, then every 30 s, by default), or an empty list after waitSeconds. Resolve each with commit or rollback; one left alone is checked again, and rolled back after the last check. Groups with a checkUrl are called instead.',
  request: {
    query: z.object({
      producerGroup: queryParam((raw) => validateGroup(raw ?? '')).openapi({ type: 'string', param: { name: 'producerGroup', in: 'query', required: true } }),
      waitSeconds: queryParam((raw) => {
        if (raw === undefined) return 20;
        if (!/^\d{1,2}$/.test(raw) || Number(raw) > 25) throw new CirrusError('INVALID_PARAMETER', 'waitSeconds must be an integer from 0 to 25');
        return Number(raw);
      }).openapi({ type: 'integer', minimum: 0, maximum: 25, default: 20, param: { name: 'waitSeconds', in: 'query' } }),
    }),
  },
  responses: {
    200: json(z.object({ checks: z.array(CheckSchema) }).openapi('TransactionChecks')),
    400: failure('INVALID_GROUP, INVALID_PARAMETER'),
    503: failure('NO_ROUTE: no live broker'),
  },
});

const ProducerGroupSchema = z
  .object({
    group: z.string(),
    checkUrl: z.string().nullable().openapi({
      description:
        'POSTed each check-back (a TransactionCheck as JSON); answers COMMIT, ROLLBACK or UNKNOWN (text, or {"resolution": ...}). A timeout (3 s by default) or any other answer counts as UNKNOWN (cirrusmq_transaction_check_unknown_total). null: back to long polls.',
    }),
    brokers: z.array(z.string()).openapi({ description: 'The brokers that took it' }),
  })
  .openapi('ProducerGroup');

const putProducerGroupRoute = createRoute({
  method: 'put',
  path: '/v1/producer-groups/{group}',
  operationId: 'putProducerGroup',
  tags: ['transactions'],
  summary: "Set a producer group's check URL",
  request: {
    params: GroupParams,
    body: { required: true, content: { 'application/json': { schema: z.object({ checkUrl: z.string().nullable() }).openapi('PutProducerGroup') } } },
  },
  responses: {
    200: json(ProducerGroupSchema),
    400: failure('INVALID_GROUP, INVALID_PARAMETER (checkUrl not an http(s) URL), INVALID_JSON, BAD_REQUEST'),
    503: failure('NO_ROUTE: no live broker; BROKER_UNAVAILABLE: some broker did not take it (retry)'),
  },
});

/** Live masters change rarely; a commit should not cost a NameServer call. */
const CLUSTER_TTL_MS = 5_000;

/** A broker's limit for one batch end (end-transaction-processor.ts). */
const MAX_ENDS_PER_CALL = 1000;

export function transactionRoutes(app: OpenAPIHono, { nameServer, brokers: clients, metrics }: GatewayDeps): void {
  // The commits and rollbacks of one event-loop turn to one broker: one batch end, each request answered from its own result.
  const ends = new TurnBatcher<string, { messageId: string; resolution: 'COMMIT' | 'ROLLBACK' }, EndAnswer>(async (addr, entries) => {
    metrics.brokerEndCalls++;
    return (await clients.get(addr).endTransactionsAnswered(entries)).results;
  }, MAX_ENDS_PER_CALL);
  let cluster: { at: number; brokers: Promise<ClusterBrokerInfo[]> } | undefined;
  const masters = async (fresh = false): Promise<ClusterBrokerInfo[]> => {
    if (fresh || !cluster || Date.now() - cluster.at > CLUSTER_TTL_MS) {
      const brokers = nameServer.getCluster().then((all) => all.filter((b) => b.alive && b.brokerId === 0));
      cluster = { at: Date.now(), brokers };
      brokers.catch(() => (cluster = undefined));
    }
    return cluster.brokers;
  };
  for (const action of ['commit', 'rollback'] as const) {
    app.openapi(endRoute(action), async (c) => {
      const { transactionId } = c.req.valid('param');
      const find = async (fresh: boolean) => (await masters(fresh)).find((b) => b.brokerName === transactionId.brokerName);
      const broker = (await find(false)) ?? (await find(true));
      if (!broker) throw new CirrusError('BROKER_NOT_FOUND', `broker ${transactionId.brokerName} of transaction ${transactionId.raw} is not in the cluster`);
      metrics.transactionEnds++;
      let answer: EndAnswer;
      try {
        [answer] = (await ends.submit(broker.addr, broker.addr, [
          { messageId: transactionId.messageId, resolution: action === 'commit' ? 'COMMIT' : 'ROLLBACK' },
        ])) as [EndAnswer];
      } catch (e) {
        const err = toCirrusError(e);
        throw err.status >= 500 ? new CirrusError('BROKER_UNAVAILABLE', `broker ${broker.brokerName}: ${err.message}`) : err;
      }
      if ('error' in answer) {
        const { code, message, details } = answer.error;
        throw isErrorCode(code) ? new CirrusError(code, message, { details }) : new CirrusError('INTERNAL', `${code}: ${message}`);
      }
      return c.json(answer as z.infer<typeof EndedSchema>, 200);
    });
  }

  app.openapi(checksRoute, async (c) => {
    const { producerGroup, waitSeconds } = c.req.valid('query');
    const brokers = await masters();
    if (brokers.length === 0) throw new CirrusError('NO_ROUTE', 'no live broker');
    // Every broker at once; the first with checks answers. Checks a slower broker hands out after that answer are offered again at its next interval.
    const checks = await new Promise<BrokerTransactionCheck[]>((resolve) => {
      let left = brokers.length;
      const all: BrokerTransactionCheck[] = [];
      for (const b of brokers) {
        clients
          .get(b.addr)
          .transactionChecks(producerGroup, waitSeconds * 1000)
          .then((found) => all.push(...found))
          .catch(() => {})
          .finally(() => {
            left--;
            if (all.length > 0 || left === 0) resolve(all);
          });
      }
    });
    return c.json({ checks: checks as z.infer<typeof CheckSchema>[] }, 200);
  });

  app.openAPIRegistry.registerPath(putProducerGroupRoute);
  app.put('/v1/producer-groups/:group', async (c) => {
    const group = validateGroup(c.req.param('group'));
    const body = await readJsonObject(c, 64 * 1024);
    if (!('checkUrl' in body)) throw new CirrusError('INVALID_PARAMETER', 'checkUrl is required (an http(s) URL, or null)');
    const brokers = await masters(true);
    if (brokers.length === 0) throw new CirrusError('NO_ROUTE', 'no live broker');
    const settled = await Promise.allSettled(brokers.map((b) => clients.get(b.addr).setProducerGroupCheckUrl(group, body.checkUrl as string | null)));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      const err = toCirrusError(failed.reason);
      throw err.status < 500 ? err : new CirrusError('BROKER_UNAVAILABLE', `some broker did not take the check URL: ${err.message}`);
    }
    return c.json({ group, checkUrl: (body.checkUrl as string | null) ?? null, brokers: brokers.map((b) => b.brokerName) }, 200);
  });
}
