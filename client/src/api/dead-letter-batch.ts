/**
 * The copy of a message that goes to %DLQ%{group} (the broker's DeadLetterService, and the gRPC
 * proxy's ForwardMessageToDeadLetterQueue): the same message id and body, the DlqProperties
 * naming where it came from, so a redrive and the DLQ's readers see one form whoever wrote it.
 */
import { encodeSendBatch } from '../codec/send-batch.js';
import { encodeProperties } from '../codec/properties.js';
import { type MessageExt, SysFlag } from '../message.js';
import { DlqProperties, dlqTopicOf } from './consume-types.js';

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
