import { describe, expect, it } from 'vitest';
import { decodeSendBatch, encodeSendBatch, markHalfMessages, MessageConst, prepareMessage } from '@cirrusmq/client/protocol';
import { useStoreFixture } from '../testing/store-fixture';
import { committedMessage, divertHalfMessages, HALF_TOPIC, readHalfRecord } from './half-message';

const fx = useStoreFixture({ commitLogSegmentBytes: 64 * 1024, consumeQueueUnitsPerFile: 64, flushIntervalMs: 10, preallocateSegments: false });

describe('half messages', () => {
  it('diverts only marked records; the committed form kept from the send equals the one read back from the stored half record', async () => {
    const store = fx.open();
    const prepared = [
      prepareMessage({ topic: 'T', body: 'x'.repeat(5000), tags: 'a', keys: ['k'], properties: { p: '1' } }, 4096, 1),
      prepareMessage({ topic: 'T', body: 'plain' }, 4096, 1),
    ];
    markHalfMessages(prepared.slice(0, 1), 'G');
    const d = divertHalfMessages(decodeSendBatch(encodeSendBatch('T', 3, prepared), 10))!;
    expect(d.halves).toEqual([{ messageId: prepared[0]!.messageId, producerGroup: 'G' }]);
    expect(d.normal!.records).toHaveLength(1);
    const put = await store.putMessages(d.half);
    const r = readHalfRecord((await store.readCommitLog(put.commitLogOffset, d.half.records[0]!.shape.size))!)!;
    expect(r).toMatchObject({ messageId: prepared[0]!.messageId, realTopic: 'T', realQueueId: 3, producerGroup: 'G' });
    expect(store.getMaxOffsetInQueue(HALF_TOPIC, 0)).toBe(1);
    const fromRecord = committedMessage(r);
    const fromSend = d.committed[0]!;
    expect(fromSend.properties).toBe(fromRecord.properties);
    expect(Buffer.from(fromSend.body as Uint8Array)).toEqual(Buffer.from(fromRecord.body as Uint8Array));
    expect([fromSend.sysFlag, fromSend.bornTimestamp, fromSend.messageId]).toEqual([fromRecord.sysFlag, fromRecord.bornTimestamp, fromRecord.messageId]);
    expect(fromSend.properties).not.toContain(MessageConst.TRANSACTION_PREPARED);
    expect(fromSend.properties).not.toContain(MessageConst.REAL_TOPIC);
  });

  it('leaves a batch without half messages as it came, and refuses to mark a scheduled message', () => {
    const plain = [prepareMessage({ topic: 'T', body: 'TRAN_MSG in a body is not a mark' }, 4096, 1)];
    expect(divertHalfMessages(decodeSendBatch(encodeSendBatch('T', 0, plain), 10))).toBeUndefined();
    const scheduled = [prepareMessage({ topic: 'T', body: 'later', delaySeconds: 5 }, 4096, 1)];
    expect(() => markHalfMessages(scheduled, 'G')).toThrow(/cannot be scheduled/);
    expect(() => markHalfMessages(plain, '%DLQ%G')).toThrow();
  });
});
