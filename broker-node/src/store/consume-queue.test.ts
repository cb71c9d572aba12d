import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tagsHashCode } from '@cirrusmq/client/protocol';
import { useTempDir } from '../testing/store-fixture';
import { CQ_STORE_UNIT_SIZE, ConsumeQueue, readCqUnit } from './consume-queue';

const fx = useTempDir();

function openCq(unitsPerFile = 4): ConsumeQueue {
  const cq = new ConsumeQueue('TopicA', 2, fx.dir, unitsPerFile);
  cq.load();
  cq.recover();
  return cq;
}

describe('ConsumeQueue', () => {
  it('stores 20-byte big-endian units with a sign-extended tag hash code', () => {
    const cq = openCq();
    const tagsCode = tagsHashCode('TagA-x'); // negative as a Java int
    expect(tagsCode).toBeLessThan(0);
    expect(cq.putMessagePositionInfo(1234, 99, tagsCode, 0)).toEqual({ status: 'OK', written: 1, duplicates: 0 });
    const buf = cq.getIndexBuffer(0, 10)!;
    expect(buf.length).toBe(CQ_STORE_UNIT_SIZE);
    expect(buf.readBigInt64BE(0)).toBe(1234n);
    expect(buf.readInt32BE(8)).toBe(99);
    expect(buf.readBigInt64BE(12)).toBe(BigInt(tagsCode));
    expect(readCqUnit(buf, 0)).toEqual({ commitLogOffset: 1234, size: 99, tagsCode });
    // Read from the write-behind buffer; the same bytes from the file once it is written.
    expect(fs.readdirSync(path.join(fx.dir, 'TopicA', '2'))).toEqual([]);
    cq.flush();
    expect(fs.readdirSync(path.join(fx.dir, 'TopicA', '2'))).toEqual(['00000000000000000000']);
    expect(cq.getIndexBuffer(0, 10)!.equals(buf)).toBe(true);
    cq.shutdown();
  });

  it('rolls files every unitsPerFile units, named by start byte offset', () => {
    const cq = openCq(4);
    for (let i = 0; i < 10; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    // Units wait in the write-behind buffer until the queue is synced; reads see them there.
    expect(cq.getMaxOffsetInQueue()).toBe(10);
    expect(cq.getMaxPhysicOffset()).toBe(1000);
    expect(readCqUnit(cq.getIndexBuffer(5, 1)!, 0).commitLogOffset).toBe(500);
    expect(cq.getIndexBuffer(2, 10)!.length).toBe(8 * CQ_STORE_UNIT_SIZE);
    expect(cq.getIndexBuffer(10, 1)).toBeUndefined();
    expect(fs.readdirSync(path.join(fx.dir, 'TopicA', '2'))).toEqual([]);
    cq.flush();
    expect(fs.readdirSync(path.join(fx.dir, 'TopicA', '2'))).toEqual(['00000000000000000000', '00000000000000000080', '00000000000000000160']);
    expect(cq.getMinOffsetInQueue()).toBe(0);
    expect(cq.getMaxOffsetInQueue()).toBe(10);
    expect(cq.getMaxPhysicOffset()).toBe(1000);
    // One file per call: from unit 2, at most the 2 left in the first file.
    expect(cq.getIndexBuffer(2, 10)!.length).toBe(2 * CQ_STORE_UNIT_SIZE);
    expect(readCqUnit(cq.getIndexBuffer(5, 1)!, 0).commitLogOffset).toBe(500);
    expect(cq.getIndexBuffer(10, 1)).toBeUndefined();
    cq.shutdown();
  });

  it('writes a run of units across files at once, and guards against duplicates and gaps', () => {
    const cq = openCq(4);
    const units = Buffer.alloc(6 * CQ_STORE_UNIT_SIZE);
    for (let i = 0; i < 6; i++) {
      units.writeBigInt64BE(BigInt(i * 10), i * 20);
      units.writeInt32BE(10, i * 20 + 8);
    }
    expect(cq.putMessagePositionInfos(units, 0, 6, 0)).toEqual({ status: 'OK', written: 6, duplicates: 0 });
    expect(cq.putMessagePositionInfo(50, 10, 0, 5)).toEqual({ status: 'OK', written: 0, duplicates: 1 });
    expect(cq.putMessagePositionInfo(70, 10, 0, 7)).toEqual({ status: 'GAP', expected: 6 });
    expect(cq.getMaxOffsetInQueue()).toBe(6);
    cq.shutdown();
  });

  it('writes pending units before any read, sync or shutdown, and a restart sees them', () => {
    const cq = openCq(1000);
    for (let i = 0; i < 5; i++) cq.putMessagePositionInfo(i * 100, 100, 7, i);
    expect(cq.readUnit(4)).toEqual({ commitLogOffset: 400, size: 100, tagsCode: 7 });
    cq.putMessagePositionInfo(500, 100, 7, 5);
    expect(cq.putMessagePositionInfo(600, 100, 7, 7)).toEqual({ status: 'GAP', expected: 6 }); // pending units count
    expect(cq.putMessagePositionInfo(500, 100, 7, 5)).toEqual({ status: 'OK', written: 0, duplicates: 1 });
    cq.shutdown();
    const again = openCq(1000);
    again.recover();
    expect(again.getMaxOffsetInQueue()).toBe(6);
    expect(again.getMaxPhysicOffset()).toBe(600);
    again.shutdown();
  });

  it('recovers the last written unit and drops units past the CommitLog end', () => {
    const cq = openCq(4);
    for (let i = 0; i < 7; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    cq.shutdown();
    const again = openCq(4);
    expect(again.getMaxOffsetInQueue()).toBe(7);
    again.truncateDirtyLogicFiles(450); // records 0..3 end at or before 400; record 4 ends at 500
    expect(again.getMaxOffsetInQueue()).toBe(4);
    expect(again.getMaxPhysicOffset()).toBe(400);
    expect(again.putMessagePositionInfo(400, 50, 0, 4).status).toBe('OK');
    again.shutdown();
    const third = openCq(4);
    expect(third.getMaxOffsetInQueue()).toBe(5);
    third.truncateDirtyLogicFiles(0);
    expect(third.getMaxOffsetInQueue()).toBe(0);
    third.shutdown();
  });
});
