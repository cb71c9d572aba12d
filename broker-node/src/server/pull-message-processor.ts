/**
 * GET /v1/messages?topic=&queueId=&offset=&max=&tag= (RocketMQ's PullMessageProcessor): raw
 * stored records from one queue, from a queue offset. The body is the records back to back
 * (decodeRecords reads them); the positions are in headers:
 *
 *   x-next-offset    the offset to read from next (= maxOffset when offset is past the end)
 *   x-min-offset     the queue's first offset kept
 *   x-max-offset     one past the queue's last offset
 *   x-message-count  records in the body
 *
 * `tag` is a subscription expression (`*`, `TagA`, `TagA || TagB`): units of other tags are
 * skipped by their hash, the rest confirmed against the stored tag (store/get-message.ts).
 * A filtered read may answer no record with x-next-offset moved on: keep reading from there
 * until x-next-offset reaches x-max-offset.
 *
 * An offset below the queue's minimum (deleted by retention) answers 404
 * OFFSET_BELOW_MINIMUM with error.details.minOffset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, ContentTypes, Limits, parseNonNegativeInt, PullHeaders, validateTopic } from '@cirrusmq/client/protocol';
import { messageFilterFor } from '../store/filter/message-filter';
import type { BrokerServerContext } from './context';

export const DEFAULT_PULL_BATCH = 32;

export function pullMessageProcessor(ctx: BrokerServerContext) {
  /** Resolves to RocketMQ's pull status, FOUND or NO_NEW_MSG (the pull histogram's result label). */
  return async (_req: IncomingMessage, res: ServerResponse, query: string): Promise<string> => {
    const params = new URLSearchParams(query);
    const topic = validateTopic(params.get('topic') ?? '');
    const queueId = parseNonNegativeInt('queueId', params.get('queueId') ?? undefined);
    const offset = parseNonNegativeInt('offset', params.get('offset') ?? undefined);
    const max = Math.min(parseNonNegativeInt('max', params.get('max') ?? undefined, DEFAULT_PULL_BATCH), Limits.MAX_READ_BATCH);
    if (max === 0) throw new CirrusError('INVALID_PARAMETER', 'max must be at least 1');
    const filter = messageFilterFor(params.get('tag'));
    await ctx.topicConfigManager.checkReadable(topic, queueId);
    if (!ctx.store.isOpen()) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} is shutting down`);
    const got = await ctx.store.getMessage(topic, queueId, offset, max, filter);
    res.writeHead(200, {
      'content-type': ContentTypes.RECORDS,
      'content-length': got.records.length,
      [PullHeaders.NEXT_OFFSET]: String(got.nextOffset),
      [PullHeaders.MIN_OFFSET]: String(got.minOffset),
      [PullHeaders.MAX_OFFSET]: String(got.maxOffset),
      [PullHeaders.COUNT]: String(got.count),
    });
    res.end(got.records);
    return got.count > 0 ? 'FOUND' : 'NO_NEW_MSG';
  };
}
