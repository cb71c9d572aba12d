/**
 * SYNC_FLUSH across segment rolls, under the power-loss file layer (test/support/power-loss):
 * when a send is acknowledged, would a power cut at that instant keep it? A roll writes the
 * old segment's BLANK filler and the record goes to the next segment; if the filler were not
 * synced before the ack, recovery would stop at the old segment's end and drop the next
 * segment's acknowledged records (and a segment tiered from the page cache would disagree
 * with the disk). At every ack, the durable image is walked as recovery walks it (the
 * read-only probe of tier/local-log-end.ts), and must reach past the acknowledged record.
 *
 * The layer is installed on node:fs in this test worker (only the watched folder is
 * tracked; everything else passes through), so the store writes through it as a broker
 * process under the preload does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { createFileLayer } from '../../../test/support/power-loss/file-layer.mjs';
import { powerLossFolders } from '../../../test/support/power-loss/power-loss';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { probeLocalLogEnd } from '../tier/local-log-end';
import { DefaultMessageStore } from './message-store';

const SEGMENT = 4096;
const tmp = tempDir('cirrusmq-sync-power-loss-');
afterAll(() => removeDir(tmp));

describe('SYNC_FLUSH under a power cut at the moment of each ack', () => {
  it('keeps every acknowledged record, the ones after a segment roll included (the BLANK filler is synced before the ack)', async () => {
    const storeDir = path.join(tmp, 'store');
    const folders = powerLossFolders(path.join(tmp, 'images'), [storeDir]);
    const layer = createFileLayer(fs, folders);
    layer.seed();
    layer.install();
    const image = folders.roots[0]!.image;
    const store = new DefaultMessageStore(
      { storeDir, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, flushIntervalMs: 3_600_000, flushDiskType: 'SYNC_FLUSH' },
      silentLogger,
    ).load();
    let acks = 0;
    let rolledAcks = 0;
    const short: string[] = [];
    // Several producers at once: group commits cover writes from before and after a roll, and a
    // filler written while a sync of its segment is in flight.
    const producer = async (p: number) => {
      for (let i = 0; i < 40; i++) {
        // One record a send: a roll writes the filler, then this record opens the next segment.
        const batch = makeBatch('S', p, [`p${p}-${i}-${'s'.repeat(100 + ((i * 37 + p * 11) % 400))}`]);
        const r = await store.putMessages(batch);
        expect(r.status).toBe('PUT_OK');
        // Synchronously in the ack's continuation: nothing else runs before the check.
        const end = probeLocalLogEnd(image, SEGMENT).end;
        const recordEnd = r.commitLogOffset + batch.records[0]!.shape.size;
        if (end < recordEnd) short.push(`ack of [${r.commitLogOffset}, ${recordEnd}): a power cut now recovers to ${end}`);
        acks++;
        if (Math.floor(r.commitLogOffset / SEGMENT) > 0) rolledAcks++;
      }
    };
    await Promise.all([0, 1, 2, 3].map(producer));
    const logEnd = store.commitLog.getMaxOffset();
    await store.simulateCrash();
    expect(short).toEqual([]);
    expect(acks).toBe(160);
    expect(rolledAcks).toBeGreaterThan(100);
    expect(Math.floor(logEnd / SEGMENT)).toBeGreaterThan(10); // many rolls happened
    // And the durable image itself opens as a store holding every record up to the end.
    const reopened = new DefaultMessageStore(
      { storeDir: image, commitLogSegmentBytes: SEGMENT, consumeQueueUnitsPerFile: 16, flushIntervalMs: 3_600_000 },
      silentLogger,
    ).load();
    try {
      expect(reopened.commitLog.getMaxOffset()).toBe(logEnd);
      for (const q of [0, 1, 2, 3]) expect(reopened.findConsumeQueue('S', q).getMaxOffsetInQueue()).toBe(store.topicQueueTable.get(`S-${q}`));
    } finally {
      await reopened.shutdown();
    }
  });
});
