/**
 * SendMessage: the queue is chosen here, not by the client (whose balancer only knows queue 0
 * of each broker): a message_group goes to the queue its hash picks, as the SDK's sharding
 * key does (so an SDK producer and a gRPC one with the same key keep one order), otherwise
 * round robin over writable queues avoiding a broker that just failed; all of it is the SDK
 * Producer's sendPrepared. Each entry gets its own status, message id and queue offset.
 */
import {
  type CirrusError,
  encodeTransactionId,
  Limits,
  markHalfMessages,
  type Message,
  Perm,
  type PreparedMessage,
  sendGroupsOf,
  validateUserTopic,
} from '@cirrusmq/client/protocol';
import type { PreparedBatch } from '@cirrusmq/client';
import type { ProxyContext } from '../proxy-context.js';
import { clientIdOf, resourceName, unary } from '../rpc.js';
import { okStatus, type RmqStatus, RmqStatusError, statusOf } from '../status.js';
import { checkEntry } from './check-entry.js';
import { toMessage, toPrepared } from './to-prepared.js';
import { producerGroupOf } from '../transaction/producer-group.js';

interface SendResultEntry {
  status: RmqStatus;
  message_id: string;
  transaction_id: string;
  offset: number;
  recall_handle: string;
}

function entry(status: RmqStatus, messageId: string, offset = 0, recallHandle = '', transactionId = ''): SendResultEntry {
  return { status, message_id: messageId, transaction_id: transactionId, offset, recall_handle: recallHandle };
}

/** A scheduled message's recall handle is its id: RecallMessage asks the topic's brokers for it (cancelScheduled). */
const isDelay = (m: any) => Boolean(m.system_properties?.delivery_timestamp);
const isTransaction = (m: any) => m.system_properties?.message_type === 'TRANSACTION';

export function sendMessage(ctx: ProxyContext) {
  const maxBodySize = ctx.config.maxBodySize;
  return unary('SendMessage', ctx.logger, async (req: any, call) => {
    const messages: any[] = req.messages ?? [];
    const ids = messages.map((m) => String(m.system_properties?.message_id ?? ''));
    try {
      const batch = await prepare(ctx, messages, maxBodySize);
      const transactional = messages.some(isTransaction);
      if (transactional) markTransactional(ctx, clientIdOf(call), batch, messages);
      const outcomes = await ctx.producer.sendPrepared(batch);
      const entries = outcomes.map((o, i) =>
        o.status === 'FAILED'
          ? entry(statusOf((o as { error: CirrusError }).error), batch.prepared[i]!.messageId)
          : entry(
              okStatus(),
              o.messageId,
              o.queueOffset,
              isDelay(messages[i]) ? o.messageId : '',
              transactional && isTransaction(messages[i]) ? encodeTransactionId(o.messageQueue.brokerName, o.messageId) : '',
            ),
      );
      const failed = entries.filter((e) => e.status.code !== 'OK').length;
      return { status: failed === 0 ? okStatus() : { code: 'MULTIPLE_RESULTS', message: `${failed} of ${entries.length} messages failed` }, entries };
    } catch (e) {
      const status = statusOf(e);
      // The caller's mistakes are answered, not logged; the service's own failures are both.
      if (status.code.startsWith('INTERNAL') || status.code === 'PROXY_TIMEOUT')
        ctx.logger.warn('SendMessage failed', { code: status.code, err: status.message });
      return { status, entries: ids.map((id) => entry(status, id)) };
    }
  });
}

/**
 * Marks the TRANSACTION entries as half messages of the topic's producer group (producerGroupOf),
 * and makes the sender a target of that group's check-backs even if its settings did not name
 * the topic (the official clients add a topic to their settings only at the next sync).
 */
function markTransactional(ctx: ProxyContext, clientId: string, batch: PreparedBatch, messages: any[]): void {
  const group = producerGroupOf(batch.topic);
  markHalfMessages(
    batch.prepared.filter((_, i) => isTransaction(messages[i])),
    group,
  );
  if (clientId && ctx.sessions.get(clientId)?.stream) ctx.transactionChecks.watch(clientId, [group]);
}

async function prepare(ctx: ProxyContext, messages: any[], maxBodySize: number): Promise<PreparedBatch> {
  if (messages.length === 0) throw new RmqStatusError('BAD_REQUEST', 'no messages to send');
  if (messages.length > Limits.MAX_BATCH_MESSAGES) throw new RmqStatusError('BAD_REQUEST', `at most ${Limits.MAX_BATCH_MESSAGES} messages in one request`);
  const topic = resourceName(messages[0].topic);
  validateUserTopic(topic);
  const now = Date.now();
  const prepared: PreparedMessage[] = new Array(messages.length);
  const msgs: Message[] = new Array(messages.length);
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (resourceName(m.topic) !== topic) throw new RmqStatusError('BAD_REQUEST', 'the messages of one request must share a topic');
    checkEntry(m, maxBodySize);
    const msg = toMessage(topic, m, maxBodySize);
    const p = toPrepared(msg, m, now);
    prepared[i] = p;
    bytes += (typeof p.body === 'string' ? (p.bodyLength ?? Buffer.byteLength(p.body)) : p.body.length) + p.propertiesLength;
    msgs[i] = msg;
  }
  if (bytes > Limits.MAX_SEND_REQUEST_BYTES - 128 * messages.length)
    throw new RmqStatusError('PAYLOAD_TOO_LARGE', 'the messages are larger than a broker takes in one request');
  await checkWritable(ctx, topic);
  return { topic, prepared, groups: sendGroupsOf(msgs) };
}

/** A topic whose every queue refuses writes (perm without WRITE) is FORBIDDEN, not merely unroutable. */
async function checkWritable(ctx: ProxyContext, topic: string): Promise<void> {
  const info = await ctx.routes.get(topic);
  if (info.ok()) return;
  const qds = info.route.queueDatas;
  if (qds.length > 0 && qds.every((q) => (q.perm & Perm.WRITE) === 0))
    throw new RmqStatusError('FORBIDDEN', `topic ${topic} does not take messages (no write permission)`);
}
