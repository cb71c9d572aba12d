import { createHash } from 'node:crypto';
import { encodeTransactionId } from '@cirrusmq/client/protocol';
import { describe, expect, it } from 'vitest';
import { recoverCommandOf } from './check-command';
import { producerGroupOf } from './producer-group';

describe('a check-back as RecoverOrphanedTransactionCommand', () => {
  it('carries the message as sent, with the MD5 digest the clients verify and the transaction id to answer with', () => {
    const body = Buffer.from('order 42 ✓');
    const transactionId = encodeTransactionId('broker-b', '0A1B2C');
    const { recover_orphaned_transaction_command: c } = recoverCommandOf({
      transactionId,
      messageId: '0A1B2C',
      topic: 'orders',
      queueId: 3,
      producerGroup: 'orders',
      checkTimes: 2,
      bornTimestamp: 1_700_000_000_123,
      storeTimestamp: 1_700_000_000_456,
      body: body.toString('base64'),
      bodyEncoding: 'base64',
      tags: 'TagA',
      keys: ['k1', 'k2'],
      properties: { shop: 'north' },
    });
    expect(c.transaction_id).toBe(transactionId);
    expect(c.message.body).toEqual(body);
    expect(c.message.topic.name).toBe('orders');
    expect(c.message.user_properties).toEqual({ shop: 'north' });
    expect(c.message.system_properties).toMatchObject({
      message_id: '0A1B2C',
      message_type: 'TRANSACTION',
      tag: 'TagA',
      keys: ['k1', 'k2'],
      body_encoding: 'IDENTITY',
      body_digest: { type: 'MD5', checksum: createHash('md5').update(body).digest('hex').toUpperCase() },
      born_timestamp: { seconds: 1_700_000_000, nanos: 123_000_000 },
      store_host: 'broker-b',
      queue_id: 3,
    });
  });
});

describe('producerGroupOf', () => {
  it('is the topic when the topic is a valid group name, else a stable name of the same form', () => {
    expect(producerGroupOf('orders')).toBe('orders');
    const long = 'x'.repeat(100);
    expect(producerGroupOf(long)).toMatch(/^tx-[0-9a-f]{40}$/);
    expect(producerGroupOf(long)).toBe(producerGroupOf(long));
    expect(producerGroupOf('a%b')).not.toBe(producerGroupOf('a|b'));
  });
});
