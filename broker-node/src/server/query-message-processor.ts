/**
 * Lookups through the key index (RocketMQ's QueryMessageProcessor: queryMessage and
 * viewMessageById). Both answer raw stored records, oldest first, as GET /v1/messages does
 * (content-type application/vnd.cirrusmq.records; decodeRecords reads them), with the
 * count in x-message-count:
 *
 *   GET /v1/messages/by-key?topic=&key=&begin=&end=&max=   messages of a topic with that key,
 *       stored within [begin, end] (ms, default all time): the newest `max` (default 32)
 *   GET /v1/messages/by-id/{messageId}                     the stored copies of a message
 *       (one; more when a retried send stored it twice); none is an empty answer, not a 404,
 *       so the gateway can ask every broker and tell "nowhere" apart from "broker down"
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CirrusError, ContentTypes, Limits, parseLookupRange, PullHeaders, validateLookupKey, validateTopic } from '@cirrusmq/client/protocol';
import type { QueryMessageResult } from '../store/message-store-types';
import type { BrokerServerContext } from './context';

export const VIEW_MESSAGE_PREFIX = '/v1/messages/by-id/';

export function queryMessageProcessor(ctx: BrokerServerContext) {
  return async (_req: IncomingMessage, res: ServerResponse, query: string): Promise<void> => {
    const params = new URLSearchParams(query);
    const topic = validateTopic(params.get('topic') ?? '');
    const key = validateLookupKey('key', params.get('key'));
    const { begin, end, max } = parseLookupRange({ begin: params.get('begin'), end: params.get('end'), max: params.get('max') });
    checkOpen(ctx);
    // Serving the topic checks its incarnation first (topic-config-manager.ts): a broker back
    // from being down drops queues of a deleted incarnation before its records can be found.
    // A topic not on this broker is not an error here (an empty answer, as before).
    await ctx.topicConfigManager.getTopicConfig(topic).catch(() => undefined);
    sendRecords(res, await ctx.store.queryMessage(topic, key, max, begin, end));
  };
}

export function viewMessageByIdProcessor(ctx: BrokerServerContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const raw = (q < 0 ? url : url.slice(0, q)).slice(VIEW_MESSAGE_PREFIX.length);
    let messageId: string;
    try {
      messageId = decodeURIComponent(raw);
    } catch {
      throw new CirrusError('INVALID_PARAMETER', 'messageId is not valid percent-encoding');
    }
    validateLookupKey('messageId', messageId);
    checkOpen(ctx);
    sendRecords(res, await ctx.store.queryMessageById(messageId, Limits.MAX_READ_BATCH));
  };
}

function checkOpen(ctx: BrokerServerContext): void {
  if (!ctx.store.isOpen()) throw new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} is shutting down`);
}

function sendRecords(res: ServerResponse, result: QueryMessageResult): void {
  res.writeHead(200, {
    'content-type': ContentTypes.RECORDS,
    'content-length': result.records.length,
    [PullHeaders.COUNT]: String(result.count),
  });
  res.end(result.records);
}
