/**
 * ForwardMessageToDeadLetterQueue (a PushConsumer that gave up on a message, FIFO groups
 * above all): the message goes to %DLQ%{group} now, whatever its attempt. As Apache's proxy
 * does it (ProducerProcessor.forwardMessageToDeadLetterQueue: send back, then ack), in steps
 * over the broker's HTTP API, which has no single call for it:
 *
 *   1. change-invisibility: proves the handle's lease is live, and holds it while the copy is written;
 *   2. the message, by its id, on the broker the handle names;
 *   3. %DLQ%{group} created if this proxy has not seen it (the NameServer's createTopic, 1 queue);
 *   4. the copy sent to that broker's queue 0 (deadLetterBatch, the form the broker's own dead letters have);
 *   5. the lease acked.
 *
 * Not atomic: a failure after 4 leaves a dead letter and a later redelivery (at least once,
 * as Apache). A message retention already deleted has nothing to copy: its lease is acked.
 */
import { type BrokerClient, deadLetterBatch, dlqTopicOf, receiptHandleBroker } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';
import { okStatus, RmqStatusError } from '../status.js';
import { brokerAddr } from './broker-addr.js';
import { entryStatus } from './handle-batches.js';
import type { LeaseRenewer } from './lease-renewer.js';
import { topicAndGroup } from './request-names.js';

/** How long step 1 holds the lease: the remaining steps are a few broker calls. */
const HOLD_MS = 30_000;

export function forwardMessageToDeadLetterQueue(ctx: ProxyContext, renewer: LeaseRenewer) {
  /** Dead-letter topics this proxy created (or found): createTopic once per group per process. */
  const ensured = new Set<string>();
  const ensureDlqTopic = async (group: string) => {
    const topic = dlqTopicOf(group);
    if (ensured.has(topic)) return;
    await ctx.nameServer.createTopic({ topic, queues: 1 });
    ensured.add(topic);
  };

  return unary('ForwardMessageToDeadLetterQueue', ctx.logger, async (request: any) => {
    const { topic, group } = topicAndGroup(request);
    const messageId: string = request.message_id ?? '';
    if (!messageId) throw new RmqStatusError('ILLEGAL_MESSAGE_ID', 'message_id is required');
    const handle = await renewer.take(request.receipt_handle ?? '');
    const broker = receiptHandleBroker(handle);
    if (broker === undefined) throw new RmqStatusError('INVALID_RECEIPT_HANDLE', 'not a receipt handle');
    const addr = await brokerAddr(ctx.routes, topic, broker);
    if (!addr) throw new RmqStatusError('INVALID_RECEIPT_HANDLE', `the receipt handle names broker ${broker}, which serves no queue of ${topic}`);
    const client = ctx.brokers.get(addr);

    const held = (await client.changeInvisibility({ topic, group, entries: [{ receiptHandle: handle, invisibleMs: HOLD_MS }] })).results[0];
    if (!held) throw new RmqStatusError('INTERNAL_ERROR', `broker ${broker} answered no result`);
    if (held.status !== 'OK') return { status: entryStatus(held.error) };

    const original = (await client.viewMessage(messageId)).find((m) => m.topic === topic);
    if (original) {
      await ensureDlqTopic(group);
      await client.sendBatch(deadLetterBatch(group, original, Number(request.delivery_attempt) || 1));
      ctx.logger.info('message forwarded to the dead-letter queue', { topic, group, messageId, broker });
    } else {
      ctx.logger.warn('dead-letter forward: the message is gone (retention), its lease is acked', { topic, group, messageId, broker });
    }
    const acked = (await ack(client, topic, group, held.receiptHandle)).results[0];
    if (acked && acked.status !== 'OK') return { status: entryStatus(acked.error) };
    return { status: okStatus() };
  });
}

function ack(client: BrokerClient, topic: string, group: string, handle: string) {
  return client.ack({ topic, group, receiptHandles: [handle] });
}
