import { describe, expect, it } from 'vitest';
import { DlqProperties, MessageConst, type PoppedMessage } from '@cirrusmq/client/protocol';
// The official client's own check (MessageView verifies body_digest with it).
import { md5CheckSum } from 'rocketmq-client-nodejs/dist/util/index.js';
import { bodyDigest, toProtoMessage } from './message-convert.js';

function popped(over: Partial<PoppedMessage> = {}): PoppedMessage {
  return {
    topic: 'Orders',
    queueId: 3,
    queueOffset: 41,
    commitLogOffset: 9000,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_123,
    storeTimestamp: 1_700_000_000_456,
    reconsumeTimes: 0,
    body: Buffer.from([0, 1, 2, 255, 0x80]),
    properties: {
      [MessageConst.TAGS]: 'TagA',
      [MessageConst.KEYS]: 'k1 k2',
      [MessageConst.UNIQ_KEY]: 'ID1',
      color: 'blue',
      'with space': 'x y',
    },
    messageId: 'ID1',
    tags: 'TagA',
    keys: ['k1', 'k2'],
    receiptHandle: 'v2.broker-a.xyz',
    deliveryAttempt: 2,
    brokerName: 'broker-a',
    ...over,
  };
}

describe('toProtoMessage', () => {
  it('carries the body as is with the MD5 digest the official client computes, and every system property', () => {
    const m = toProtoMessage(popped(), 15_000);
    expect(m.body).toEqual(Buffer.from([0, 1, 2, 255, 0x80]));
    expect(m.topic.name).toBe('Orders');
    expect(m.user_properties).toEqual({ color: 'blue', 'with space': 'x y' });
    expect(m.system_properties).toMatchObject({
      tag: 'TagA',
      keys: ['k1', 'k2'],
      message_id: 'ID1',
      body_digest: { type: 'MD5', checksum: md5CheckSum(Buffer.from([0, 1, 2, 255, 0x80])) },
      body_encoding: 'IDENTITY',
      message_type: 'NORMAL',
      born_timestamp: { seconds: 1_700_000_000, nanos: 123_000_000 },
      store_timestamp: { seconds: 1_700_000_000, nanos: 456_000_000 },
      store_host: 'broker-a',
      receipt_handle: 'v2.broker-a.xyz',
      queue_id: 3,
      queue_offset: 41,
      delivery_attempt: 2,
      invisible_duration: { seconds: 15, nanos: 0 },
    });
    expect(m.system_properties).not.toHaveProperty('message_group');
    expect(m.system_properties).not.toHaveProperty('dead_letter_queue');
  });

  it('a sharding key is a FIFO message of that message group', () => {
    const m = toProtoMessage(popped({ properties: { [MessageConst.SHARDING_KEY]: 'order-7' } }), 1000);
    expect(m.system_properties).toMatchObject({ message_type: 'FIFO', message_group: 'order-7' });
    expect(m.user_properties).toEqual({});
  });

  it('a message without a tag has no tag field; a dead letter names its origin', () => {
    const m = toProtoMessage(
      popped({ tags: undefined, properties: { [DlqProperties.ORIGIN_TOPIC]: 'Orders', [DlqProperties.ORIGIN_MESSAGE_ID]: 'ID0' } }),
      1000,
    );
    expect(m.system_properties).not.toHaveProperty('tag');
    expect(m.system_properties.dead_letter_queue).toEqual({ topic: 'Orders', message_id: 'ID0' });
  });

  it('digests an empty body and text alike', () => {
    expect(bodyDigest(Buffer.alloc(0)).checksum).toBe(md5CheckSum(Buffer.alloc(0)));
    expect(bodyDigest(Buffer.from('héllo')).checksum).toBe(md5CheckSum(Buffer.from('héllo')));
  });
});
