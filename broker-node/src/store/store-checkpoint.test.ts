import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../testing/store-fixture';
import { CHECKPOINT_FILE, CheckpointField, StoreCheckpoint, readCheckpointFile } from './store-checkpoint';

const fx = useTempDir();

const data = (n: number) => ({ physicMsgTimestamp: 1_700_000_000_000 + n, physicOffset: n * 1000, logicsOffset: n * 1000 - 10, indexOffset: n * 1000 - 20 });

function garble(slot: number, field: number): void {
  const fd = fs.openSync(path.join(fx.dir, CHECKPOINT_FILE), 'r+');
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, slot * 512 + field);
  fs.closeSync(fd);
}

describe('StoreCheckpoint', () => {
  it('is missing on a new store, then reads back the last write', async () => {
    const cp = new StoreCheckpoint(fx.dir);
    expect(cp.loaded).toBeUndefined();
    expect(cp.read()).toBeUndefined();
    await cp.write(data(1));
    expect(cp.read()).toMatchObject({ ...data(1), sequence: 1 });
    await cp.write(data(2));
    cp.writeSync(data(3));
    expect(cp.read()).toMatchObject({ ...data(3), sequence: 3 });
    cp.close();
    expect(fs.statSync(path.join(fx.dir, CHECKPOINT_FILE)).size).toBe(1024);
    // A new instance (a restart) finds it and keeps counting.
    const again = new StoreCheckpoint(fx.dir);
    expect(again.loaded).toMatchObject({ ...data(3), sequence: 3 });
    await again.write(data(4));
    expect(again.read()?.sequence).toBe(4);
    again.close();
  });

  it('alternates two slots, so a torn write falls back to the one before', async () => {
    const cp = new StoreCheckpoint(fx.dir);
    await cp.write(data(1)); // sequence 1 -> slot 1
    await cp.write(data(2)); // sequence 2 -> slot 0
    cp.close();
    garble(0, CheckpointField.PHYSIC_OFFSET + 3); // the newest slot: its CRC fails
    expect(readCheckpointFile(path.join(fx.dir, CHECKPOINT_FILE))).toMatchObject({ ...data(1), sequence: 1 });
    // The next write goes to slot 0 again (sequence 2 once more is not reused: it continues from what was read).
    const again = new StoreCheckpoint(fx.dir);
    expect(again.loaded?.sequence).toBe(1);
    await again.write(data(5));
    expect(again.read()).toMatchObject({ ...data(5), sequence: 2 });
    again.close();
  });

  it('counts as missing when both slots are corrupt, or the file is garbage', async () => {
    const cp = new StoreCheckpoint(fx.dir);
    await cp.write(data(1));
    await cp.write(data(2));
    cp.close();
    garble(0, CheckpointField.CRC);
    garble(1, CheckpointField.MAGIC);
    expect(new StoreCheckpoint(fx.dir).loaded).toBeUndefined();
    fs.writeFileSync(path.join(fx.dir, CHECKPOINT_FILE), 'not a checkpoint');
    expect(new StoreCheckpoint(fx.dir).loaded).toBeUndefined();
  });
});
