import { describe, expect, it } from 'vitest';
import {
  decodeProperties,
  decodeRecord,
  decodeSendBatch,
  encodeSendBatch,
  encodeTimerBatch,
  markHalfMessages,
  MessageConst,
  prepareMessage,
  readRecordShape,
} from '@cirrusmq/client/protocol';
import { batchOf } from '../timer/timer-record';
import { useStoreFixture } from '../testing/store-fixture';
import { committedRecord, HALF_TOPIC, readHalfRecord, sendBatchOfRecords } from './half-message';
import { divertHalfMessages } from './half-message-divert';
import { endOpMessages, OP_TOPIC, opMessage, readOpRecord } from './op-message';

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
    // Byte for byte: the record kept from the send is the one a commit would rebuild from the stored half record.
    const fromSend = d.committed[0]!;
    expect(fromSend.equals(committedRecord(r))).toBe(true);
    const m = decodeRecord(fromSend, 0, readRecordShape(fromSend, 0, fromSend.length)!);
    expect(m).toMatchObject({ topic: 'T', messageId: prepared[0]!.messageId, tags: 'a', keys: ['k'], bornTimestamp: 1 });
    expect(m.body.toString()).toBe('x'.repeat(5000));
    expect(m.properties).toMatchObject({ p: '1', [MessageConst.TRANSACTION_ID]: prepared[0]!.messageId });
    expect(m.properties[MessageConst.TRANSACTION_PREPARED]).toBeUndefined();
    expect(m.properties[MessageConst.REAL_TOPIC]).toBeUndefined();
    // A commit's put of it lands in the real queue.
    await store.putMessages(sendBatchOfRecords('T', 3, d.committed));
    expect(store.getMaxOffsetInQueue('T', 3)).toBe(1);
  });

  it('finds the marks of a batch in its properties only: a mark in a body is none, a half message after it is one; properties that are not UTF-8 still encode', () => {
    const prepared = [
      prepareMessage({ topic: 'T', body: 'TRAN_MSG\u0001true in a body' }, 4096, 1),
      prepareMessage({ topic: 'T', body: 'half' }, 4096, 1),
      prepareMessage({ topic: 'T', body: 'plain', properties: { p: 'é' } }, 4096, 1),
      prepareMessage({ topic: 'T', body: 'half too' }, 4096, 1),
    ];
    markHalfMessages([prepared[1]!, prepared[3]!], 'G');
    const encoded = encodeSendBatch('T', 0, prepared);
    // Break the UTF-8 of the plain record's "é" (C3 A9 -> FF A9): it decodes to two U+FFFD, six bytes.
    const at = encoded.indexOf(Buffer.from('é', 'utf8'));
    encoded[at] = 0xff;
    const d = divertHalfMessages(decodeSendBatch(encoded, 10))!;
    expect(d.halves.map((h) => h.messageId)).toEqual([prepared[1]!.messageId, prepared[3]!.messageId]);
    expect(d.normal!.records).toHaveLength(2);
    const plain = d.normal!.records[1]!;
    // Every property whole (a stated length short of the re-encoded string would cut the last ones).
    const stored = decodeRecord(d.normal!.body, plain.pos, plain.shape);
    expect(stored.properties).toEqual({ ...decodeProperties(prepared[2]!.properties), p: '\uFFFD\uFFFD' });
    expect(stored.messageId).toBe(prepared[2]!.messageId);
    expect(d.committed).toHaveLength(2);
  });

  it('reads the ends of one op record for many transactions, and of one for an id with the separator', async () => {
    const store = fx.open();
    const ids = ['AA01', 'AA02', 'AA03'];
    await store.putMessages(
      batchOf(OP_TOPIC, 0, [...endOpMessages('COMMIT', ids, 5), ...endOpMessages('ROLLBACK', ['BB01', 'x,y'], 5), opMessage('ROLLBACK', 'CC01', '', 5)]),
    );
    const got = await store.getMessage(OP_TOPIC, 0, 0, 10);
    const read: { kind: string; ids: string[] }[] = [];
    for (let pos = 0; pos < got.records.length; ) {
      const op = readOpRecord(got.records, pos)!;
      read.push({ kind: op.kind, ids: op.ids });
      pos += readRecordShape(got.records, pos, got.records.length)!.size;
    }
    expect(read).toEqual([
      { kind: 'COMMIT', ids },
      { kind: 'ROLLBACK', ids: ['x,y'] },
      { kind: 'ROLLBACK', ids: ['BB01'] },
      { kind: 'ROLLBACK', ids: ['CC01'] },
    ]);
  });

  it('takes a mark only as a whole property, the last of its name: a longer name, another value or a later TRAN_MSG=false is none', () => {
    const withProps = (extra: string) => {
      const m = prepareMessage({ topic: 'T', body: 'b', properties: { p: '1' } }, 4096, 1);
      m.properties += extra;
      m.propertiesLength += Buffer.byteLength(extra);
      return decodeSendBatch(encodeSendBatch('T', 0, [m]), 10);
    };
    expect(divertHalfMessages(withProps('XTRAN_MSG\u0001true\u0002'))).toBeUndefined();
    expect(divertHalfMessages(withProps('TRAN_MSG\u0001trueish\u0002'))).toBeUndefined();
    expect(divertHalfMessages(withProps('TRAN_MSG\u0001true\u0002PGROUP\u0001G\u0002TRAN_MSG\u0001false\u0002'))).toBeUndefined();
    // A mark after a TRAN_MSG=false counts (the last one decides).
    const d = divertHalfMessages(withProps('TRAN_MSG\u0001false\u0002PGROUP\u0001G\u0002TRAN_MSG\u0001true\u0002'))!;
    expect(d.halves).toHaveLength(1);
    expect(d.halves[0]!.producerGroup).toBe('G');
    const stored = decodeRecord(d.half.body, d.half.records[0]!.pos, d.half.records[0]!.shape);
    expect(stored.properties).toMatchObject({ p: '1', [MessageConst.REAL_TOPIC]: 'T', [MessageConst.TRANSACTION_ID]: d.halves[0]!.messageId });
    const committed = decodeRecord(d.committed[0]!, 0, readRecordShape(d.committed[0]!, 0, d.committed[0]!.length)!);
    // The mark itself dropped (the first TRAN_MSG=true): the earlier TRAN_MSG=false stays.
    expect(committed.properties).toMatchObject({ p: '1', [MessageConst.TRANSACTION_PREPARED]: 'false', [MessageConst.TRANSACTION_ID]: d.halves[0]!.messageId });
    expect(committed.topic).toBe('T');
  });

  it('leaves a batch without half messages as it came, and refuses to mark a scheduled message', () => {
    const plain = [prepareMessage({ topic: 'T', body: 'TRAN_MSG in a body is not a mark' }, 4096, 1)];
    expect(divertHalfMessages(decodeSendBatch(encodeSendBatch('T', 0, plain), 10))).toBeUndefined();
    const scheduled = [prepareMessage({ topic: 'T', body: 'later', delaySeconds: 5 }, 4096, 1)];
    expect(() => markHalfMessages(scheduled, 'G')).toThrow(/cannot be scheduled/);
    expect(() => markHalfMessages(plain, '%DLQ%G')).toThrow();
  });

  it('refuses a half message with a schedule (INVALID_MESSAGE), as a sender that does not check would send it: plain form or timer form', () => {
    const half = (schedule: Record<string, unknown>, extra = '') => {
      const m = prepareMessage({ topic: 'T', body: 'later', ...schedule }, 4096, Date.now());
      m.properties += `TRAN_MSG\u0001true\u0002PGROUP\u0001G\u0002${extra}`;
      m.propertiesLength = Buffer.byteLength(m.properties);
      return m;
    };
    const refused = (batch: Buffer) => {
      try {
        divertHalfMessages(decodeSendBatch(batch, 10));
        return 'accepted';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    for (const schedule of [{ deliverAt: Date.now() + 60_000 }, { delaySeconds: 5 }, { delayTimeLevel: 3 }]) {
      expect(refused(encodeSendBatch('T', 0, [half(schedule)])), JSON.stringify(schedule)).toBe('INVALID_MESSAGE');
      expect(refused(encodeTimerBatch('T', 0, [half(schedule)], Date.now())!), `timer form ${JSON.stringify(schedule)}`).toBe('INVALID_MESSAGE');
    }
    // A name only ending like a schedule's is none.
    expect(refused(encodeSendBatch('T', 0, [half({}, 'XDELAY\u00013\u0002MY_TIMER_DELIVER_MS\u00011\u0002')]))).toBe('accepted');
  });
});
