/**
 * DefaultMessageStore.putMessagesOfQueues: several queues' records in one CommitLog write (a
 * transaction flush's commits and op record), indexed in each queue as a put of its own would
 * be, across a segment change, a restart and a crash; the answer waits for the group commit
 * under SYNC_FLUSH like any put.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecords, decodeSendBatch, encodeSendBatch, prepareMessage, readRecordShape, type SendBatch } from '@cirrusmq/client/protocol';
import { useStoreFixture } from '../testing/store-fixture';
import type { DefaultMessageStore } from './message-store';

const fx = useStoreFixture({
  commitLogSegmentBytes: 8 * 1024,
  consumeQueueUnitsPerFile: 16,
  flushIntervalMs: 10,
  cleanIntervalMs: 3_600_000,
  preallocateSegments: false,
});

/** `bodies` as records in CommitLog layout under `topic` (what a commit appends). */
function recordsOf(topic: string, bodies: string[]): Buffer[] {
  const b = decodeSendBatch(
    encodeSendBatch(
      topic,
      0,
      bodies.map((body) => prepareMessage({ topic, body }, 1 << 20, 1)),
    ),
    1000,
  );
  return b.records.map(({ pos, shape }) => b.body.subarray(pos, pos + shape.size));
}

function batchOf(records: Buffer[]): SendBatch {
  const body = Buffer.concat(records);
  const out: SendBatch['records'] = [];
  for (let pos = 0; pos < body.length; ) {
    const shape = readRecordShape(body, pos, body.length)!;
    out.push({ pos, shape });
    pos += shape.size;
  }
  return { topic: '', queueId: -1, records: out, body };
}

async function queue(store: DefaultMessageStore, topic: string, queueId: number) {
  return decodeRecords((await store.getMessage(topic, queueId, store.getMinOffsetInQueue(topic, queueId), 1000)).records).map((m) => ({
    body: m.body.toString(),
    queueId: m.queueId,
    queueOffset: m.queueOffset,
  }));
}

describe('DefaultMessageStore.putMessagesOfQueues', () => {
  it('writes several queues in one append; each queue indexes its records after what it held, in order; a queue named twice continues', async () => {
    const store = fx.open();
    await store.putMessages(decodeSendBatch(encodeSendBatch('A', 1, [prepareMessage({ topic: 'A', body: 'a0' }, 4096, 1)]), 10));
    const end = store.commitLog.getMaxOffset();
    const parts = [
      { topic: 'A', queueId: 1, bodies: ['a1', 'a2'] },
      { topic: 'B', queueId: 0, bodies: ['b0'] },
      { topic: 'A', queueId: 1, bodies: ['a3'] },
      { topic: 'C', queueId: 3, bodies: ['c0', 'c1', 'c2'] },
    ];
    const records = parts.flatMap((p) => recordsOf(p.topic, p.bodies));
    const answers = await store.putMessagesOfQueues(
      batchOf(records),
      parts.map((p) => ({ topic: p.topic, queueId: p.queueId, count: p.bodies.length })),
    );
    expect(answers.map((a) => [a.status, a.queueOffset, a.count])).toEqual([
      ['PUT_OK', 1, 2],
      ['PUT_OK', 0, 1],
      ['PUT_OK', 3, 1],
      ['PUT_OK', 0, 3],
    ]);
    // Back to back from the log's end, in the order given.
    const sizes = records.map((r) => r.length);
    expect(answers[0]!.commitLogOffset).toBe(end);
    expect(answers[1]!.commitLogOffset).toBe(end + sizes[0]! + sizes[1]!);
    expect(answers[3]!.commitLogEnd).toBe(end + sizes.reduce((a, b) => a + b, 0));
    const expected = {
      A: [
        { body: 'a0', queueId: 1, queueOffset: 0 },
        { body: 'a1', queueId: 1, queueOffset: 1 },
        { body: 'a2', queueId: 1, queueOffset: 2 },
        { body: 'a3', queueId: 1, queueOffset: 3 },
      ],
      B: [{ body: 'b0', queueId: 0, queueOffset: 0 }],
      C: [
        { body: 'c0', queueId: 3, queueOffset: 0 },
        { body: 'c1', queueId: 3, queueOffset: 1 },
        { body: 'c2', queueId: 3, queueOffset: 2 },
      ],
    };
    const read = async (s: DefaultMessageStore) => ({ A: await queue(s, 'A', 1), B: await queue(s, 'B', 0), C: await queue(s, 'C', 3) });
    expect(await read(store)).toEqual(expected);
    // A put after it continues each queue.
    const after = await store.putMessages(decodeSendBatch(encodeSendBatch('C', 3, [prepareMessage({ topic: 'C', body: 'c3' }, 4096, 1)]), 10));
    expect(after.queueOffset).toBe(3);
    // A clean restart and a crash (the reput from the log) rebuild the same queues.
    const again = await fx.reopen();
    expect(await read(again)).toEqual({ ...expected, C: [...expected.C, { body: 'c3', queueId: 3, queueOffset: 3 }] });
    await again.simulateCrash();
    fx.forget(again);
    const recovered = fx.open();
    expect(await read(recovered)).toEqual({ ...expected, C: [...expected.C, { body: 'c3', queueId: 3, queueOffset: 3 }] });
  });

  it('a write crossing a segment end: the records after the filler are indexed where they landed', async () => {
    const store = fx.open();
    const bodies = Array.from({ length: 40 }, (_, i) => `${i}-${'x'.repeat(300)}`);
    const records = [...recordsOf('A', bodies.slice(0, 20)), ...recordsOf('B', bodies.slice(20))];
    const answers = await store.putMessagesOfQueues(batchOf(records), [
      { topic: 'A', queueId: 0, count: 20 },
      { topic: 'B', queueId: 0, count: 20 },
    ]);
    expect(answers.map((a) => a.queueOffset)).toEqual([0, 0]);
    expect((await queue(store, 'A', 0)).map((m) => m.body)).toEqual(bodies.slice(0, 20));
    expect((await queue(store, 'B', 0)).map((m) => m.body)).toEqual(bodies.slice(20));
    // ~12 KiB into 8 KiB segments: the write went on in the next one.
    expect(answers[1]!.commitLogEnd! - answers[0]!.commitLogOffset).toBeGreaterThan(records.reduce((n, r) => n + r.length, 0));
  });

  it('under SYNC_FLUSH answers after the group commit covers the whole write', async () => {
    // Only the group commit syncs (the flush timer is far off).
    const store = fx.open({ flushDiskType: 'SYNC_FLUSH', flushIntervalMs: 600_000 });
    const answers = await store.putMessagesOfQueues(batchOf([...recordsOf('A', ['a']), ...recordsOf('B', ['b'])]), [
      { topic: 'A', queueId: 0, count: 1 },
      { topic: 'B', queueId: 0, count: 1 },
    ]);
    expect(answers.map((a) => a.status)).toEqual(['PUT_OK', 'PUT_OK']);
    const file = store.commitLog.mappedFileQueue.getLastMappedFile()!;
    expect(file.fileFromOffset + file.flushedPosition).toBe(answers[1]!.commitLogEnd);
  });

  it('refuses queues that do not name every record, storing nothing', async () => {
    const store = fx.open();
    await expect(store.putMessagesOfQueues(batchOf(recordsOf('A', ['a', 'b'])), [{ topic: 'A', queueId: 0, count: 1 }])).rejects.toThrow(/name 1 records/);
    expect(store.commitLog.getMaxOffset()).toBe(0);
    expect(store.getMaxOffsetInQueue('A', 0)).toBe(0);
  });
});
