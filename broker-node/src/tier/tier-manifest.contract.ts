/**
 * The behaviour every TierManifest must have: tier-manifest.test.ts runs it for the JSON
 * folder and for DynamoDB on moto. A backend is fresh and empty (a temp folder, a cluster
 * name of its own); open() the same broker name again for a new instance on the same data,
 * as a restarted or replacement broker would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectCode } from './object-store.contract';
import type { TierManifest, TieredSegment } from './tier-manifest';

export interface TierManifestBackend {
  /** A new manifest instance for this broker name, over the backend's shared storage. */
  open(brokerName: string): TierManifest;
  cleanup(): Promise<void>;
}

const GiB = 1024 * 1024 * 1024;

export function seg(startOffset: number, over: Partial<TieredSegment> = {}): TieredSegment {
  const key = String(startOffset).padStart(20, '0');
  return {
    startOffset,
    endOffset: startOffset + GiB,
    commitLogKey: `commitlog/${key}`,
    consumeQueueKey: `consumequeue/${key}`,
    objectSize: GiB - 123,
    crc32: 0xdeadbeef,
    firstStoreTimestamp: 1_700_000_000_000,
    lastStoreTimestamp: 1_700_000_360_000,
    tieredAt: 1_700_000_400_000,
    ...over,
  };
}

export function tierManifestContract(name: string, newBackend: () => Promise<TierManifestBackend>): void {
  describe(`TierManifest contract: ${name}`, () => {
    let backend: TierManifestBackend;
    let manifest: TierManifest;

    beforeEach(async () => {
      backend = await newBackend();
      manifest = backend.open('broker-a');
    });
    afterEach(async () => {
      await backend.cleanup();
    });

    it('starts empty', async () => {
      expect(await manifest.list()).toEqual([]);
    });

    it('lists committed entries by startOffset as numbers, past 2^31 and 2^32 too', async () => {
      // Committed out of order; as strings or as int32 these would sort differently.
      const offsets = [3 * GiB, 0, 5 * GiB, GiB, 2 ** 40, 2 * GiB, 9 * GiB + 17];
      for (const o of offsets) await manifest.commit(seg(o));
      const listed = await manifest.list();
      expect(listed.map((s) => s.startOffset)).toEqual([...offsets].sort((a, b) => a - b));
      expect(listed[0]).toEqual(seg(0));
      expect(listed.at(-1)).toEqual(seg(2 ** 40));
    });

    it('keeps every field exactly, the largest CRC32 and a shortened last segment included', async () => {
      const s = seg(7 * GiB, { endOffset: 7 * GiB + 4096, objectSize: 4000, crc32: 0xffffffff, tieredAt: 1_800_000_000_123 });
      await manifest.commit(s);
      expect(await manifest.list()).toEqual([s]);
    });

    it('never replaces an entry: the same segment again (a retried commit) is fine, another one is TIER_OBJECT_CONFLICT', async () => {
      await manifest.commit(seg(GiB));
      await manifest.commit(seg(GiB, { tieredAt: 1_700_000_999_000 }));
      await expectCode(manifest.commit(seg(GiB, { crc32: 42 })), 'TIER_OBJECT_CONFLICT');
      await expectCode(manifest.commit(seg(GiB, { commitLogKey: 'commitlog/retry' })), 'TIER_OBJECT_CONFLICT');
      await expectCode(manifest.commit(seg(GiB, { endOffset: GiB + 4096, objectSize: 4096 })), 'TIER_OBJECT_CONFLICT');
      // The first segment (tieredAt is either commit's: the same segment, committed twice).
      expect(await manifest.list()).toEqual([{ ...seg(GiB), tieredAt: expect.any(Number) }]);
      await manifest.remove(GiB);
      await manifest.commit(seg(GiB, { crc32: 42 }));
      expect(await manifest.list()).toEqual([seg(GiB, { crc32: 42 })]);
    });

    it('removes entries; removing a missing one, or twice, is no error', async () => {
      await manifest.commit(seg(0));
      await manifest.commit(seg(GiB));
      await manifest.commit(seg(2 * GiB));
      await manifest.remove(GiB);
      await manifest.remove(GiB);
      await manifest.remove(123 * GiB);
      expect((await manifest.list()).map((s) => s.startOffset)).toEqual([0, 2 * GiB]);
    });

    it('keeps two brokers apart, even at the same offsets', async () => {
      const other = backend.open('broker-b');
      await manifest.commit(seg(0));
      await manifest.commit(seg(GiB));
      await other.commit(seg(0, { crc32: 7 }));
      await other.commit(seg(4 * GiB));
      expect((await manifest.list()).map((s) => [s.startOffset, s.crc32])).toEqual([
        [0, 0xdeadbeef],
        [GiB, 0xdeadbeef],
      ]);
      await other.remove(GiB);
      await other.remove(0);
      expect((await manifest.list()).map((s) => s.startOffset)).toEqual([0, GiB]);
      expect((await other.list()).map((s) => s.startOffset)).toEqual([4 * GiB]);
    });

    it('shows a fresh instance on the same storage what was committed and removed', async () => {
      await manifest.commit(seg(0));
      await manifest.commit(seg(GiB));
      await manifest.remove(0);
      const restarted = backend.open('broker-a');
      expect(await restarted.list()).toEqual([seg(GiB)]);
    });

    it('takes concurrent commits', async () => {
      const offsets = Array.from({ length: 25 }, (_, i) => (24 - i) * GiB);
      await Promise.all(offsets.map((o) => manifest.commit(seg(o))));
      expect((await manifest.list()).map((s) => s.startOffset)).toEqual([...offsets].reverse());
    });

    it('refuses entries that could not be stored or ordered, and stores nothing', async () => {
      await expectCode(manifest.commit(seg(-1)), 'INVALID_PARAMETER');
      await expectCode(manifest.commit(seg(1.5)), 'INVALID_PARAMETER');
      await expectCode(manifest.commit(seg(2 ** 53)), 'INVALID_PARAMETER');
      await expectCode(manifest.commit(seg(GiB, { endOffset: 0 })), 'INVALID_PARAMETER');
      await expectCode(manifest.commit(seg(GiB, { commitLogKey: '' })), 'INVALID_PARAMETER');
      await expectCode(manifest.commit(seg(GiB, { crc32: Number.NaN })), 'INVALID_PARAMETER');
      await expectCode(manifest.remove(-5), 'INVALID_PARAMETER');
      expect(await manifest.list()).toEqual([]);
    });
  });
}
