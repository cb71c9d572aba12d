/**
 * POST /v1/send (RocketMQ's SendMessageProcessor): one binary send batch for one queue
 * (client/src/codec/send-batch.ts), stored with one CommitLog write.
 *
 *   request:  content-type application/vnd.cirrusmq.send-batch, body = the batch;
 *             ?durability=async acks after the write on a broker with durability s3 or sync
 *             (a send that can afford less); ?durability=s3 or sync insists on the broker's
 *             own level, and is refused (400) by a broker that acks at a lower one
 *   answer:   200 BrokerSendResponse JSON {status, brokerName, queueId, queueOffset, count, commitLogOffset}
 *             status SEND_OK, or FLUSH_DISK_TIMEOUT (SYNC_FLUSH: stored, the fdatasync missed its timeout)
 *             or FLUSH_S3_TIMEOUT (durability s3: stored, the write-ahead chunk missed its timeout)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BrokerSendResponse, CirrusError, ContentTypes, decodeSendBatch, Limits, validateTopic } from '@cirrusmq/client/protocol';
import { putMessagesWithTimers } from '../timer/timer-put';
import type { BrokerServerContext } from './context';
import { mediaType, readBody, sendJson } from './http-util';

/** A 4 MiB batch plus each record's header and properties (see Limits). */
export const MAX_SEND_BODY_BYTES = Limits.MAX_SEND_REQUEST_BYTES;

export function sendMessageProcessor(ctx: BrokerServerContext) {
  const notAvailable = () => new CirrusError('SERVICE_NOT_AVAILABLE', `broker ${ctx.brokerName} is shutting down`);
  /** Resolves to the answer's status (the send histogram's result label). */
  return async (req: IncomingMessage, res: ServerResponse, query: string): Promise<string> => {
    if (!ctx.acceptingWrites()) throw notAvailable();
    const durability = new URLSearchParams(query).get('durability') ?? undefined;
    if (durability !== undefined && durability !== 'async' && durability !== ctx.store.durability) {
      throw new CirrusError(
        'INVALID_PARAMETER',
        durability === 'sync' || durability === 's3'
          ? `broker ${ctx.brokerName} acknowledges at durability ${ctx.store.durability}, not ${durability}`
          : `durability must be async, sync or s3, got "${durability}"`,
      );
    }
    if (mediaType(req) !== ContentTypes.SEND_BATCH) {
      throw new CirrusError('UNSUPPORTED_MEDIA_TYPE', `send expects content-type ${ContentTypes.SEND_BATCH}`);
    }
    const body = await readBody(req, MAX_SEND_BODY_BYTES);
    const batch = decodeSendBatch(body, Limits.MAX_BATCH_MESSAGES);
    validateTopic(batch.topic);
    // A batch the SDK sent already in the timer form is stored only by a broker that fires timers.
    if (batch.timerForm && !ctx.timerStore) throw new CirrusError('INVALID_MESSAGE', `broker ${ctx.brokerName} keeps no timers`);
    await ctx.topicConfigManager.checkWritable(batch.topic, batch.queueId);
    // The store may have closed while the topic lookup was awaited.
    if (!ctx.acceptingWrites()) throw notAvailable();
    // Under SYNC_FLUSH this waits for the group commit, with durability s3 for the write-ahead
    // chunk; FLUSH_DISK_TIMEOUT and FLUSH_S3_TIMEOUT are still a 200: the batch is stored,
    // only not yet known durable (the producer sees the status).
    const options = durability === 'async' ? { durability } : undefined;
    // Scheduled records go under the timer topic (timer/timer-put.ts); a bad schedule refuses the batch before anything is stored.
    const putPlain = (b: typeof batch) => (ctx.timerStore ? putMessagesWithTimers(ctx.store, ctx.timerStore, b, options) : ctx.store.putMessages(b, options));
    // Half messages go under the half topic (transaction/), invisible until committed; the rest on as before.
    const put = ctx.transactions ? await ctx.transactions.putMessages(batch, options, putPlain) : await putPlain(batch);
    const answer: BrokerSendResponse = {
      status: put.status === 'PUT_OK' ? 'SEND_OK' : put.status,
      brokerName: ctx.brokerName,
      queueId: batch.queueId,
      queueOffset: put.queueOffset,
      count: put.count,
      commitLogOffset: put.commitLogOffset,
    };
    sendJson(res, 200, answer);
    return answer.status;
  };
}
