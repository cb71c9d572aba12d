import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CirrusError } from './errors.js';
import { FolderLock, type LockStrategy } from './folder-lock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-folder-lock-'));
  dirs.push(d);
  return d;
}

async function lockedError(dir: string, strategy: LockStrategy): Promise<CirrusError> {
  const e = await FolderLock.acquire(dir, { owner: 'second', strategy }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CirrusError);
  return e as CirrusError;
}

describe.each<LockStrategy>(['abstract-socket', 'pid-file'])('FolderLock (%s)', (strategy) => {
  it('refuses a second holder, naming the folder and the first holder, until released', async () => {
    const dir = tempDir();
    const first = await FolderLock.acquire(dir, { owner: 'broker broker-a', strategy });
    const e = await lockedError(dir, strategy);
    expect(e.code).toBe('STORE_LOCKED');
    expect(e.message).toContain(dir);
    expect(e.message).toContain(`pid ${process.pid}`);
    expect(e.details).toMatchObject({ folder: dir, holderPid: process.pid, holderOwner: 'broker broker-a' });
    await first.release();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
    const again = await FolderLock.acquire(dir, { owner: 'broker broker-a', strategy });
    await again.release();
  });

  it('is one lock for two paths to one folder', async () => {
    const dir = tempDir();
    const link = path.join(tempDir(), 'link');
    fs.symlinkSync(dir, link);
    const first = await FolderLock.acquire(dir, { owner: 'first', strategy });
    try {
      expect((await lockedError(link, strategy)).code).toBe('STORE_LOCKED');
    } finally {
      await first.release();
    }
  });
});

describe('FolderLock (pid-file)', () => {
  it('takes over a lock file whose process is gone', async () => {
    const dir = tempDir();
    // A pid that existed and is gone: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), since: 'then', owner: 'dead' }));
    const lock = await FolderLock.acquire(dir, { owner: 'next', strategy: 'pid-file' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, owner: 'next' });
    await lock.release();
  });
});
