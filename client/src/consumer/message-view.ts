/**
 * What a consumer hands to the application (RocketMQ 5's MessageView): the stored message,
 * where it lives, its lease's receipt handle and which delivery this is. The same shape
 * whether it came straight from a broker or through the gateway.
 */
import type { ReceivedMessageJson } from '../api/gateway-client.js';

export interface MessageView {
  messageId: string;
  topic: string;
  /** Already decompressed. */
  body: Buffer;
  tags?: string;
  keys: string[];
  properties: Record<string, string>;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  bornTimestamp: number;
  storeTimestamp: number;
  /** 1 on the first delivery. */
  deliveryAttempt: number;
  /**
   * The lease: ack and changeInvisibleDuration name it. A change of invisibility replaces it
   * (the old handle stops working), so the consumer updates it in place.
   */
  receiptHandle: string;
}

export function messageViewFromJson(topic: string, m: ReceivedMessageJson): MessageView {
  return {
    messageId: m.messageId,
    topic,
    body: Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8'),
    tags: m.tags,
    keys: m.keys ?? [],
    properties: m.properties ?? {},
    brokerName: m.broker,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    bornTimestamp: m.bornTimestamp,
    storeTimestamp: m.storeTimestamp,
    deliveryAttempt: m.deliveryAttempt,
    receiptHandle: m.receiptHandle,
  };
}
