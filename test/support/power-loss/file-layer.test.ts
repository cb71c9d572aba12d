/**
 * The power-loss file layer itself: what a pulled plug keeps. In-process tests call the
 * layer's wrappers directly (node:fs stays unpatched in the test runner); the last test runs
 * a real node process with the preload, SIGKILLs it, and restores the folder from its image.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLayer, type FileLayer } from './file-layer.mjs';
import { powerLossEnv, powerLossFolders, restoreDurableImages, type PowerLossFolders } from './power-loss';

let tmp: string;
let root: string;
let layer: FileLayer;
let folders: PowerLossFolders;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-power-loss-'));
  root = path.join(tmp, 'store');
  folders = powerLossFolders(path.join(tmp, 'images'), [root]);
  layer = createFileLayer(fs, folders);
  layer.seed();
  layer.sync.mkdirSync(root, { recursive: true });
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A file as a power cut now would leave it: its copy in the durable image (the real folder is not touched while the layer runs). */
function afterPowerLoss(name: string): Buffer | undefined {
  const file = layer.images[0]!.pathOf(path.join(root, name));
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

const fdatasyncAsync = (fd: number) => new Promise<void>((resolve, reject) => layer.callback.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

describe('power-loss file layer', () => {
  it('drops a new file nobody synced, and keeps its name (zeros) once its directory is synced', () => {
    const file = path.join(root, 'a');
    const fd = layer.sync.openSync(file, 'wx+');
    layer.sync.ftruncateSync(fd, 8);
    layer.sync.writeSync(fd, Buffer.from('abcd'), 0, 4, 0);
    expect(fs.readFileSync(file).subarray(0, 4).toString()).toBe('abcd'); // the page cache has it
    expect(afterPowerLoss('a')).toBeUndefined();

    const dirFd = layer.sync.openSync(root, 'r');
    layer.sync.fsyncSync(dirFd);
    layer.sync.closeSync(dirFd);
    expect(afterPowerLoss('a')).toEqual(Buffer.alloc(8));
    layer.sync.closeSync(fd);
  });

  it('keeps synced bytes and drops the writes after the last sync, overwrites included', () => {
    const file = path.join(root, 'b');
    const fd = layer.sync.openSync(file, 'w+');
    layer.sync.writeSync(fd, Buffer.from('1111'), 0, 4, 0);
    layer.sync.fdatasyncSync(fd);
    layer.sync.writeSync(fd, Buffer.from('2222'), 0, 4, 4); // an append
    layer.sync.writeSync(fd, Buffer.from('9'), 0, 1, 0); // an overwrite of synced bytes
    expect(fs.readFileSync(file).toString()).toBe('91112222');
    expect(afterPowerLoss('b')?.toString()).toBe('1111');

    const fd2 = layer.sync.openSync(file, 'r+'); // any fd of the file syncs all its dirty bytes
    layer.sync.writeSync(fd2, Buffer.from('3'), 0, 1, 8);
    layer.sync.fsyncSync(fd2);
    expect(afterPowerLoss('b')?.toString()).toBe('911122223');
    layer.sync.closeSync(fd);
    layer.sync.closeSync(fd2);
  });

  it('does not count a write made while a sync is in flight as covered by it', async () => {
    const file = path.join(root, 'c');
    const fd = layer.sync.openSync(file, 'w+');
    layer.sync.writeSync(fd, Buffer.from('before'), 0, 6, 0);
    const first = fdatasyncAsync(fd);
    layer.sync.writeSync(fd, Buffer.from('after'), 0, 5, 6); // the sync was called before this write
    await first;
    expect(afterPowerLoss('c')?.toString()).toBe('before');
    await fdatasyncAsync(fd);
    expect(afterPowerLoss('c')?.toString()).toBe('beforeafter');
    layer.sync.closeSync(fd);
  });

  it('counts writes completed by the async fs.write when they complete', async () => {
    const file = path.join(root, 'd');
    const fd = layer.sync.openSync(file, 'w+');
    await new Promise<void>((resolve, reject) => layer.callback.write(fd, Buffer.from('xyz'), 0, 3, 10, (err) => (err ? reject(err) : resolve())));
    await fdatasyncAsync(fd);
    const kept = afterPowerLoss('d');
    expect(kept?.length).toBe(13);
    expect(kept?.subarray(10).toString()).toBe('xyz');
    layer.sync.closeSync(fd);
  });

  it('applies a truncate (shrink, regrow) only with the next sync', () => {
    const file = path.join(root, 'e');
    const fd = layer.sync.openSync(file, 'w+');
    layer.sync.writeSync(fd, Buffer.from('abcdefgh'), 0, 8, 0);
    layer.sync.fdatasyncSync(fd);
    layer.sync.ftruncateSync(fd, 2);
    layer.sync.ftruncateSync(fd, 8);
    expect(fs.readFileSync(file)).toEqual(Buffer.from('ab\0\0\0\0\0\0'));
    expect(afterPowerLoss('e')?.toString()).toBe('abcdefgh');
    layer.sync.fdatasyncSync(fd);
    expect(afterPowerLoss('e')).toEqual(Buffer.from('ab\0\0\0\0\0\0'));
    layer.sync.closeSync(fd);
  });

  it('applies renames and deletes at once; a renamed file keeps only what was synced', () => {
    const synced = path.join(root, 'f.tmp');
    let fd = layer.sync.openSync(synced, 'w');
    layer.sync.writeSync(fd, Buffer.from('kept'), 0, 4, 0);
    layer.sync.fdatasyncSync(fd);
    layer.sync.closeSync(fd);
    layer.sync.renameSync(synced, path.join(root, 'f'));
    expect(afterPowerLoss('f.tmp')).toBeUndefined();
    expect(afterPowerLoss('f')?.toString()).toBe('kept');

    const unsynced = path.join(root, 'g.tmp');
    fd = layer.sync.openSync(unsynced, 'w');
    layer.sync.writeSync(fd, Buffer.from('lost'), 0, 4, 0);
    layer.sync.closeSync(fd);
    layer.sync.renameSync(unsynced, path.join(root, 'f')); // replaces f; its bytes never reached the disk
    expect(afterPowerLoss('f')).toBeUndefined();

    fd = layer.sync.openSync(path.join(root, 'h'), 'w');
    layer.sync.writeSync(fd, Buffer.from('h'), 0, 1, 0);
    layer.sync.fdatasyncSync(fd);
    layer.sync.closeSync(fd);
    layer.sync.rmSync(path.join(root, 'h'), { force: true });
    expect(afterPowerLoss('h')).toBeUndefined();
  });

  it('gives a linked name the synced bytes of its file (the tier publishes objects with link)', async () => {
    const tmpName = path.join(root, '.k.tmp');
    const fh = await layer.promises.open(tmpName, 'wx');
    await fh.write(Buffer.from('object'), 0, 6);
    await fh.sync();
    await fh.close();
    await layer.promises.link(tmpName, path.join(root, 'k'));
    await layer.promises.rm(tmpName, { force: true });
    expect(afterPowerLoss('k')?.toString()).toBe('object');
    expect(afterPowerLoss('.k.tmp')).toBeUndefined();

    const unsynced = path.join(root, '.l.tmp');
    const fd = layer.sync.openSync(unsynced, 'wx');
    layer.sync.writeSync(fd, Buffer.from('lost'));
    layer.sync.closeSync(fd);
    await layer.promises.link(unsynced, path.join(root, 'l'));
    expect(afterPowerLoss('l')).toBeUndefined();
  });

  it('tracks FileHandle writes and syncs', async () => {
    const fh = await layer.promises.open(path.join(root, 'i'), 'w');
    await fh.write(Buffer.from('handle'), 0, 6, 0);
    expect(afterPowerLoss('i')).toBeUndefined();
    await fh.datasync();
    await fh.write(Buffer.from('-late'), 0, 5, 6);
    await fh.close();
    expect(afterPowerLoss('i')?.toString()).toBe('handle');
  });

  it('keeps tracking a file whose fd number a closed FileHandle once had (a second close is a no-op)', async () => {
    const fh = await layer.promises.open(path.join(root, 'm.tmp'), 'w');
    const oldFd = fh.fd;
    await fh.close();
    const fd = layer.sync.openSync(path.join(root, 'm'), 'w+');
    expect(fd).toBe(oldFd); // the lowest free number: the one the handle had
    await fh.close();
    layer.sync.writeSync(fd, Buffer.from('tracked'), 0, 7, 0);
    layer.sync.fdatasyncSync(fd);
    layer.sync.closeSync(fd);
    expect(afterPowerLoss('m')?.toString()).toBe('tracked');
  });

  it('restores the watched folder from the image and leaves files outside it alone', () => {
    const outside = path.join(tmp, 'outside');
    let fd = layer.sync.openSync(outside, 'w');
    layer.sync.writeSync(fd, Buffer.from('free'), 0, 4, 0);
    layer.sync.closeSync(fd);
    fd = layer.sync.openSync(path.join(root, 'j'), 'w');
    layer.sync.writeSync(fd, Buffer.from('j'), 0, 1, 0);
    layer.sync.closeSync(fd);
    restoreDurableImages(folders);
    expect(fs.existsSync(path.join(root, 'j'))).toBe(false);
    expect(fs.readFileSync(outside, 'utf8')).toBe('free');
  });

  it('wraps node:fs in a real process through the preload: only synced bytes survive SIGKILL plus the pulled plug', async () => {
    // Default and named imports both: the layer patches the module object and syncs the ESM exports.
    const script = `
      import fs from 'node:fs';
      import { writeSync, fdatasyncSync } from 'node:fs';
      const dir = ${JSON.stringify(root)};
      const fd = fs.openSync(dir + '/log', 'w+');
      writeSync(fd, Buffer.from('durable|'), 0, 8, 0);
      fdatasyncSync(fd);
      fs.writeSync(fd, Buffer.from('volatile'), 0, 8, 8);
      fs.writeFileSync(dir + '/never-synced', 'x');
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...powerLossEnv(folders) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
    });
    expect(fs.readFileSync(path.join(root, 'log'), 'utf8')).toBe('durable|volatile');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    restoreDurableImages(folders);
    expect(fs.readFileSync(path.join(root, 'log'), 'utf8')).toBe('durable|');
    expect(fs.existsSync(path.join(root, 'never-synced'))).toBe(false);
  });
});
