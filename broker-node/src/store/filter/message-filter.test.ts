import { beforeEach, describe, expect, it, vi } from 'vitest';
import { buildSubscriptionData, decodeRecords, javaHashCode, tagsHashCode } from '@cirrusmq/client/protocol';
import { makeBatch, type TestMessage } from '../../testing/fixtures';
import { useStoreFixture } from '../../testing/store-fixture';
import { MAX_FILTER_SCAN_UNITS } from '../message-store-types';
import type { DefaultMessageStore } from '../message-store';
import { ExpressionMessageFilter, messageFilterFor } from './message-filter';

const fx = useStoreFixture({
  commitLogSegmentBytes: 8 << 20,
  consumeQueueUnitsPerFile: 4096,
  flushIntervalMs: 50,
  indexHashSlotNum: 1024,
  indexNum: 64 * 1024,
  preallocateSegments: false,
});
let store: DefaultMessageStore;
beforeEach(() => {
  store = fx.open();
});

const read = async (expression: string | undefined, offset = 0, max = 100) => {
  const got = await store.getMessage('T', 0, offset, max, messageFilterFor(expression));
  return { ...got, bodies: decodeRecords(got.records).map((m) => m.body.toString()) };
};

const tagged = (body: string, tags?: string): TestMessage => ({ body, tags });

describe('tag filtering (ExpressionMessageFilter)', () => {
  beforeEach(async () => {
    await store.putMessages(
      makeBatch('T', 0, [tagged('a1', 'TagA'), tagged('b1', 'TagB'), tagged('none'), tagged('aa', 'Aa'), tagged('bb', 'BB'), tagged('a2', 'TagA')]),
    );
  });

  it('reads only the tags of the expression, and * or nothing reads all', async () => {
    expect(await read('TagA')).toMatchObject({ bodies: ['a1', 'a2'], count: 2, nextOffset: 6, maxOffset: 6 });
    expect((await read('TagA || TagB')).bodies).toEqual(['a1', 'b1', 'a2']);
    expect(await read('TagZ')).toMatchObject({ bodies: [], count: 0, nextOffset: 6 });
    expect((await read('*')).bodies).toEqual(['a1', 'b1', 'none', 'aa', 'bb', 'a2']);
    expect((await read(undefined)).bodies).toHaveLength(6);
    expect(messageFilterFor('*')).toBeUndefined();
  });

  it('confirms against the stored tag when two tags share a hash code ("Aa" and "BB")', async () => {
    expect(javaHashCode('Aa')).toBe(javaHashCode('BB'));
    const filter = new ExpressionMessageFilter(buildSubscriptionData('Aa'));
    // Step 1 cannot tell them apart...
    expect(filter.isMatchedByConsumeQueue(tagsHashCode('BB'))).toBe(true);
    // ...step 2 does.
    expect(await read('Aa')).toMatchObject({ bodies: ['aa'], count: 1, nextOffset: 6 });
    expect((await read('BB')).bodies).toEqual(['bb']);
  });

  it('skips other tags by their hash without reading the CommitLog', async () => {
    const spy = vi.spyOn(store.commitLog, 'findMappedFileByOffset');
    expect((await read('TagZ')).count).toBe(0);
    expect(spy).not.toHaveBeenCalled();
    await read('TagB');
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('advances nextOffset past skipped messages, so paging never reads one twice', async () => {
    const first = await read('TagA', 0, 1);
    expect(first).toMatchObject({ bodies: ['a1'], nextOffset: 1 });
    const second = await read('TagA', first.nextOffset, 1);
    expect(second).toMatchObject({ bodies: ['a2'], nextOffset: 6 });
    expect(await read('TagA', second.nextOffset, 1)).toMatchObject({ count: 0, nextOffset: 6 });
    // A collision dropped at step 2 still moves the offset on.
    expect(await read('Aa', 4, 10)).toMatchObject({ count: 0, nextOffset: 6 });
  });
});

describe('a filtered read over a long run of other tags', () => {
  it(`stops after ${MAX_FILTER_SCAN_UNITS} units and answers the offset reached`, async () => {
    const other = Array.from({ length: 1000 }, (_, i) => tagged(`x${i}`, 'Other'));
    const runs = Math.ceil((MAX_FILTER_SCAN_UNITS + 500) / other.length);
    for (let i = 0; i < runs; i++) await store.putMessages(makeBatch('T', 0, other));
    await store.putMessages(makeBatch('T', 0, [tagged('wanted', 'TagA')]));
    const total = runs * other.length + 1;

    const first = await read('TagA');
    expect(first).toMatchObject({ count: 0, nextOffset: MAX_FILTER_SCAN_UNITS, maxOffset: total });
    const second = await read('TagA', first.nextOffset);
    expect(second).toMatchObject({ bodies: ['wanted'], nextOffset: total });
  });
});
