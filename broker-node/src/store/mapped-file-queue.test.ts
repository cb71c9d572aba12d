import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../testing/store-fixture';
import { MappedFile, fileNameToOffset, offsetToFileName } from './mapped-file';
import { MappedFileQueue } from './mapped-file-queue';

const fx = useTempDir();

describe('MappedFile', () => {
  it('is named by its 20-digit start offset and created at full size', () => {
    expect(offsetToFileName(1073741824)).toBe('00000000001073741824');
    expect(fileNameToOffset('00000000001073741824')).toBe(1073741824);
    expect(fileNameToOffset('checkpoint')).toBeUndefined();
    const f = MappedFile.create(fx.dir, 4096, 4096);
    expect(path.basename(f.fileName)).toBe('00000000000000004096');
    expect(fs.statSync(f.fileName).size).toBe(4096);
    expect(f.wrotePosition).toBe(0);
    f.close();
  });

  it('appends, reads back, flushes and truncates (zeroing the rest)', () => {
    const f = MappedFile.create(fx.dir, 0, 256);
    f.appendSync(Buffer.from('hello world'), 5);
    f.appendSync(Buffer.from('xxABCxx'), 3, 2);
    expect(f.wrotePosition).toBe(8);
    expect(f.read(0, 100).toString()).toBe('helloABC');
    expect(f.isDirty()).toBe(true);
    f.flush();
    expect(f.flushedPosition).toBe(8);
    f.truncateTo(2);
    expect(f.wrotePosition).toBe(2);
    f.close();
    const again = MappedFile.open(f.fileName, 0);
    expect(again.wrotePosition).toBe(256);
    expect(again.read(0, 8)).toEqual(Buffer.from([0x68, 0x65, 0, 0, 0, 0, 0, 0]));
    expect(() => again.appendSync(Buffer.alloc(1), 1)).toThrow(RangeError);
    again.destroy();
    expect(fs.existsSync(f.fileName)).toBe(false);
  });

  it('flushes on the thread pool', async () => {
    const f = MappedFile.create(fx.dir, 0, 64);
    f.appendSync(Buffer.from('abc'), 3);
    await f.flushAsync();
    expect(f.flushedPosition).toBe(3);
    f.close();
  });
});

describe('MappedFileQueue', () => {
  it('rolls segments, finds them by offset, and truncates dirty files', () => {
    const q = new MappedFileQueue(path.join(fx.dir, 'log'), 100);
    q.load();
    expect(q.getMaxOffset()).toBe(0);
    const a = q.getLastMappedFileOrCreate();
    a.appendSync(Buffer.alloc(100, 1), 100);
    const b = q.getLastMappedFileOrCreate();
    expect(b.fileFromOffset).toBe(100);
    b.appendSync(Buffer.alloc(50, 2), 50);
    expect(q.getMinOffset()).toBe(0);
    expect(q.getMaxOffset()).toBe(150);
    expect(q.findMappedFileByOffset(99)).toBe(a);
    expect(q.findMappedFileByOffset(100)).toBe(b);
    expect(q.findMappedFileByOffset(200)).toBeUndefined();
    q.shutdown();

    const r = new MappedFileQueue(path.join(fx.dir, 'log'), 100);
    r.load();
    expect(r.mappedFiles.map((f) => f.fileFromOffset)).toEqual([0, 100]);
    expect(r.getMaxOffset()).toBe(200); // full until recovery says otherwise
    r.truncateDirtyFiles(60);
    expect(r.mappedFiles.length).toBe(1);
    expect(r.getMaxOffset()).toBe(60);
    expect(fs.readdirSync(path.join(fx.dir, 'log'))).toEqual(['00000000000000000000']);
    r.shutdown();
  });

  it('refuses segments that are not contiguous', () => {
    const d = path.join(fx.dir, 'gap');
    fs.mkdirSync(d);
    MappedFile.create(d, 0, 100).close();
    MappedFile.create(d, 300, 100).close();
    expect(() => new MappedFileQueue(d, 100).load()).toThrow(/not contiguous/);
  });
});
