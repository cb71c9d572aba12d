/**
 * The copy of a message that goes to %DLQ%{group}, as the broker's DeadLetterService writes
 * it (same message id, the DlqProperties naming where it came from), so the gateway's redrive
 * and the DLQ's readers cannot tell a forwarded dead letter from one the broker made.
 */
import { DlqProperties, dlqTopicOf, encodeProperties, encodeSendBatch, type MessageExt, SysFlag } from '@cirrusmq/client/protocol';

/** A one-message send batch for queue 0 of the group's dead-letter topic (each broker keeps its own there). */
export function deadLetterBatch(group: string, m: MessageExt, deliveryAttempts: number): Buffer {
  const properties = encodeProperties({
    ...m.properties,
    [DlqProperties.ORIGIN_TOPIC]: m.topic,
    [DlqProperties.ORIGIN_QUEUE_ID]: String(m.queueId),
    [DlqProperties.ORIGIN_QUEUE_OFFSET]: String(m.queueOffset),
    [DlqProperties.ORIGIN_MESSAGE_ID]: m.messageId,
    [DlqProperties.DELIVERY_ATTEMPTS]: String(deliveryAttempts),
  });
  return encodeSendBatch(dlqTopicOf(group), 0, [
    {
      messageId: m.messageId,
      body: m.body,
      // The body was inflated when read: the copy goes uncompressed.
      sysFlag: m.sysFlag & ~SysFlag.COMPRESSED,
      bornTimestamp: m.bornTimestamp,
      properties,
      propertiesLength: Buffer.byteLength(properties),
    },
  ]);
}
