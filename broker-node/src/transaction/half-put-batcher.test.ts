import { describe, expect, it } from 'vitest';
import {
  type CirrusError,
  decodeRecords,
  decodeSendBatch,
  encodeSendBatch,
  MessageConst,
  markHalfMessages,
  prepareMessage,
  type SendBatch,
} from '@cirrusmq/client/protocol';
import type { PutMessageResult, PutOptions } from '../store/message-store-types';
import { useStoreFixture } from '../testing/store-fixture';
import { HALF_TOPIC, readHalfRecord } from './half-message';
import { divertHalfMessages } from './half-message-divert';
import { HalfPutBatcher } from './half-put-batcher';

const fx = useStoreFixture({
  commitLogSegmentBytes: 16 * 1024,
  consumeQueueUnitsPerFile: 64,
  flushIntervalMs: 10,
  cleanIntervalMs: 3_600_000,
  preallocateSegments: false,
});

/** A half batch of `n` messages to T queue `queueId` (divertHalfMessages' half), with their ids. */
function halfBatch(n: number, body = 'x'.repeat(200), queueId = 0): { half: SendBatch; ids: string[] } {
  const prepared = Array.from({ length: n }, () => prepareMessage({ topic: 'T', body }, 1 << 20, Date.now()));
  markHalfMessages(prepared, 'G');
  const d = divertHalfMessages(decodeSendBatch(encodeSendBatch('T', queueId, prepared), 1000))!;
  return { half: d.half, ids: d.halves.map((h) => h.messageId) };
}

function counting(store: ReturnType<typeof fx.open>) {
  const puts: number[] = [];
  const batcher = new HalfPutBatcher(
    (b: SendBatch, options: PutOptions | undefined) => {
      puts.push(b.records.length);
      return store.putMessages(b, options);
    },
    async (queueOffset, count) => (await store.getMessage(HALF_TOPIC, 0, queueOffset, count)).records,
  );
  return { puts, batcher };
}

/** The half record stored at each offset must be the one of that send. */
async function expectAt(store: ReturnType<typeof fx.open>, sent: { half: SendBatch; ids: string[] }[], offsets: number[]) {
  const ids = sent.flatMap((s) => s.ids);
  const sizes = sent.flatMap((s) => s.half.records.map((r) => r.shape.size));
  for (let i = 0; i < ids.length; i++) {
    const buf = await store.readCommitLog(offsets[i]!, sizes[i]!);
    expect(buf && readHalfRecord(buf)?.messageId, `record ${i}`).toBe(ids[i]);
  }
}

describe('HalfPutBatcher', () => {
  it('stores the half messages of one turn with one put; each send gets its own slice, where its records are', async () => {
    const store = fx.open();
    const { puts, batcher } = counting(store);
    const sends = [halfBatch(1), halfBatch(3), halfBatch(1)];
    const results = await Promise.all(sends.map((s) => batcher.submit(s.half, undefined)));
    expect(puts).toEqual([5]);
    expect(results.map((r) => [r.put.queueOffset, r.put.count])).toEqual([
      [0, 1],
      [1, 3],
      [4, 1],
    ]);
    for (let i = 0; i < sends.length; i++) {
      expect(results[i]!.put.commitLogOffset).toBe(results[i]!.offsets[0]);
      await expectAt(store, [sends[i]!], results[i]!.offsets);
    }
    const stored = decodeRecords((await store.getMessage(HALF_TOPIC, 0, 0, 100)).records);
    expect(stored.map((m) => m.properties[MessageConst.UNIQ_KEY])).toEqual(sends.flatMap((s) => s.ids));
    // The next turn: a put of its own.
    const later = await batcher.submit(halfBatch(2).half, undefined);
    expect(puts).toEqual([5, 2]);
    expect(later.put.queueOffset).toBe(5);
  });

  it('finds where each record landed when a segment change splits the merged put', async () => {
    const store = fx.open();
    const { puts, batcher } = counting(store);
    // ~400-byte records into 16 KiB segments: 60 of them cross at least one segment end.
    const sends = Array.from({ length: 60 }, () => halfBatch(1));
    const results = await Promise.all(sends.map((s) => batcher.submit(s.half, undefined)));
    expect(puts).toEqual([60]);
    const offsets = results.map((r) => r.offsets[0]!);
    expect(offsets.some((o, i) => i > 0 && o - offsets[i - 1]! !== sends[i - 1]!.half.records[0]!.shape.size)).toBe(true);
    await expectAt(store, sends, offsets);
    for (const r of results) expect(r.put.commitLogOffset).toBe(r.offsets[0]);
  });

  it('does not merge sends asking for different durabilities', async () => {
    const store = fx.open();
    const { puts, batcher } = counting(store);
    await Promise.all([
      batcher.submit(halfBatch(1).half, undefined),
      batcher.submit(halfBatch(1).half, undefined),
      batcher.submit(halfBatch(1).half, { durability: 'async' }),
    ]);
    expect(puts).toEqual([2, 1]);
  });

  it('a merged put the store refuses is tried one send at a time: only the bad send fails', async () => {
    const store = fx.open();
    const { puts, batcher } = counting(store);
    // Larger than a 16 KiB segment: the store refuses it (PAYLOAD_TOO_LARGE), and with it the merged put.
    const big = halfBatch(1, 'y'.repeat(20_000));
    const good = [halfBatch(1), halfBatch(2)];
    const outcomes = await Promise.allSettled([
      batcher.submit(good[0]!.half, undefined),
      batcher.submit(big.half, undefined),
      batcher.submit(good[1]!.half, undefined),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((outcomes[1] as PromiseRejectedResult).reason as CirrusError).code).toBe('PAYLOAD_TOO_LARGE');
    expect(puts).toEqual([4, 1, 1, 2]);
    const ok = outcomes.filter((o): o is PromiseFulfilledResult<Awaited<ReturnType<HalfPutBatcher['submit']>>> => o.status === 'fulfilled');
    expect(ok.map((o) => o.value.put.queueOffset)).toEqual([0, 1]);
    await expectAt(store, [good[1]!], ok[1]!.value.offsets);
    expect(store.getMaxOffsetInQueue(HALF_TOPIC, 0)).toBe(3);
  });

  it('answers with the status of the put (a put acknowledged as any put is)', async () => {
    const results: PutMessageResult[] = [];
    const batcher = new HalfPutBatcher(
      async (b) => ({ status: 'FLUSH_DISK_TIMEOUT', queueOffset: 7, count: b.records.length, commitLogOffset: 1000, commitLogEnd: 1000 + sizeOf(b) }),
      async () => Buffer.alloc(0),
    );
    const a = halfBatch(1).half;
    const b = halfBatch(1).half;
    for (const r of await Promise.all([batcher.submit(a, undefined), batcher.submit(b, undefined)])) results.push(r.put);
    expect(results).toEqual([
      { status: 'FLUSH_DISK_TIMEOUT', queueOffset: 7, count: 1, commitLogOffset: 1000, commitLogEnd: 1000 + sizeOf(a) + sizeOf(b) },
      { status: 'FLUSH_DISK_TIMEOUT', queueOffset: 8, count: 1, commitLogOffset: 1000 + sizeOf(a), commitLogEnd: 1000 + sizeOf(a) + sizeOf(b) },
    ]);
  });
});

function sizeOf(b: SendBatch): number {
  return b.records.reduce((n, r) => n + r.shape.size, 0);
}
