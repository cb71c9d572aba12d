/**
 * SQS's redrive: a group's dead letters (%DLQ%{group}) sent back to the topics they came from.
 * They are read by POP with the group itself (its cursor on the %DLQ% topic is its own), each
 * acked only after its resend was stored: a crash between the two sends it twice, never loses it
 * (at-least-once, as everywhere). A dead letter without its origin topic, or whose resend
 * fails, is left leased: it stays in the dead-letter topic for a later redrive.
 */
import {
  type BrokerClients,
  CirrusError,
  DlqProperties,
  dlqTopicOf,
  type Logger,
  type Message,
  MessageConst,
  type NameServerApi,
  type PoppedMessage,
  withMessageId,
} from '@cirrusmq/client/protocol';
import type { Producer } from '@cirrusmq/client';

/** Dead letters left leased (not redriven) stay invisible this long before a later redrive sees them. */
const REDRIVE_INVISIBLE_MS = 60_000;
const POP_BATCH = 32;
const SYSTEM_PROPERTIES = new Set<string>([...Object.values(MessageConst), ...Object.values(DlqProperties)]);

export interface RedriveDeps {
  nameServer: NameServerApi;
  brokers: BrokerClients;
  producer: Producer;
  logger: Logger;
}

export interface RedriveResult {
  redriven: number;
  failed: number;
}

export async function redriveDeadLetters({ nameServer, brokers, producer, logger }: RedriveDeps, group: string, max: number): Promise<RedriveResult> {
  const topic = dlqTopicOf(group);
  // The group's own cursor on its dead-letter topic (consume-types.ts DlqProperties).
  const redriveGroup = group;
  // Every live master: a dead letter is stored on the broker where its lease ended, whether or
  // not the NameServer routes the %DLQ% topic.
  const masters = (await nameServer.getCluster()).filter((b) => b.alive && b.brokerId === 0);
  const result: RedriveResult = { redriven: 0, failed: 0 };
  for (const b of masters) {
    const broker = brokers.get(b.addr);
    while (result.redriven + result.failed < max) {
      let batch: PoppedMessage[];
      try {
        const want = Math.min(POP_BATCH, max - result.redriven - result.failed);
        batch = await broker.pop({ topic, group: redriveGroup, max: want, invisibleMs: REDRIVE_INVISIBLE_MS, waitMs: 0 }, b.brokerName);
      } catch (e) {
        // A broker that never dead-lettered anything for this group has no such topic.
        if (e instanceof CirrusError && e.code === 'TOPIC_NOT_FOUND') break;
        throw e;
      }
      if (batch.length === 0) break;
      const done: string[] = [];
      for (const m of batch) {
        if (await resend(producer, m, logger)) done.push(m.receiptHandle);
        else result.failed++;
      }
      if (done.length > 0) {
        const { results } = await broker.ack({ topic, group: redriveGroup, receiptHandles: done });
        const notAcked = results.filter((r) => r.status !== 'OK');
        // Resent but not acked: it will be redriven again (a duplicate, never a loss).
        if (notAcked.length > 0) logger.warn('redrive: resent dead letters not acked', { group, broker: b.brokerName, count: notAcked.length });
        result.redriven += done.length;
      }
    }
  }
  return result;
}

/** Sends one dead letter back to its origin topic; false (logged) when it cannot. */
async function resend(producer: Producer, m: PoppedMessage, logger: Logger): Promise<boolean> {
  const origin = m.properties[DlqProperties.ORIGIN_TOPIC];
  if (!origin) {
    logger.warn('redrive: dead letter without its origin topic', { messageId: m.messageId, broker: m.brokerName });
    return false;
  }
  const properties: Record<string, string> = {};
  for (const k in m.properties) if (!SYSTEM_PROPERTIES.has(k)) properties[k] = m.properties[k]!;
  const msg: Message = { topic: origin, body: m.body, properties };
  if (m.tags) msg.tags = m.tags;
  if (m.keys.length > 0) msg.keys = m.keys;
  const shardingKey = m.properties[MessageConst.SHARDING_KEY];
  if (shardingKey) msg.shardingKey = shardingKey;
  try {
    // The same message again (RocketMQ keeps the id of what it retries): the original's id, which the dead letter kept.
    const batch = producer.prepareBatch(origin, [msg]);
    withMessageId(batch.prepared[0]!, m.properties[DlqProperties.ORIGIN_MESSAGE_ID] ?? m.messageId);
    const [outcome] = await producer.sendPrepared(batch);
    if (outcome!.status === 'FAILED') throw outcome!.error;
    return true;
  } catch (e) {
    logger.warn('redrive: resend failed', { messageId: m.messageId, origin, err: e });
    return false;
  }
}
