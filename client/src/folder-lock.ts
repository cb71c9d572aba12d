/**
 * One owner per data folder (a broker's store folder, the NameServer's embedded data): the
 * lock is taken before anything in the folder is read, and a second process exits with
 * STORE_LOCKED instead of "recovering" files a live process is writing.
 *
 * Node has no flock. On Linux the lock is a unix socket in the abstract namespace, named
 * after the folder's device and inode: bind() is atomic and exclusive, nothing is created
 * on disk, and the kernel frees the name when the holder dies, SIGKILL included, so a
 * crash never leaves a stale lock. Device and inode rather than the path: two paths to one
 * folder (symlink, bind mount) get one lock. The name is per network namespace, so two
 * containers with their own networks sharing one volume would not see each other; a
 * volume belongs to one task in our deployments.
 *
 * Elsewhere (macOS, Windows) the `lock` file itself is the lock: created exclusively, and
 * taken over when the pid it names on this host is gone.
 *
 * Either way the holder then writes `{folder}/lock` (RocketMQ's name for its store lock
 * file) with pid, host and start time, only so a refused process can name the holder.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CirrusError } from './errors.js';

export const LOCK_FILE = 'lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the holder took the lock. */
  since: string;
  /** What holds it, e.g. `broker broker-a`. */
  owner: string;
}

export type LockStrategy = 'abstract-socket' | 'pid-file';

export interface FolderLockOptions {
  /** Written into the holder file, e.g. `broker broker-a`. */
  owner: string;
  /** Defaults to abstract-socket on Linux, pid-file elsewhere (tests force either). */
  strategy?: LockStrategy;
}

export class FolderLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly holder: LockHolder,
    private readonly socket: net.Server | undefined,
  ) {}

  /**
   * Takes the folder (created when missing: an empty new folder has nothing to protect).
   * Throws STORE_LOCKED, having read nothing but the holder file, when a live process holds it.
   */
  static async acquire(dir: string, options: FolderLockOptions): Promise<FolderLock> {
    const resolved = path.resolve(dir);
    fs.mkdirSync(resolved, { recursive: true });
    const strategy = options.strategy ?? (process.platform === 'linux' ? 'abstract-socket' : 'pid-file');
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), owner: options.owner };
    if (strategy === 'pid-file') {
      takePidFile(resolved, holder);
      return new FolderLock(resolved, holder, undefined);
    }
    const socket = await listenAbstract(socketName(resolved)).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw lockedError(resolved, readHolder(resolved));
      throw e;
    });
    // The lock must not keep a process alive that has nothing else to do.
    socket.unref();
    writeHolderFile(resolved, holder);
    return new FolderLock(resolved, holder, socket);
  }

  /** Frees the folder; the holder file goes first, so it never describes the next holder's lock as ours. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const file = path.join(this.dir, LOCK_FILE);
    if (readHolder(this.dir)?.pid === this.holder.pid) fs.rmSync(file, { force: true });
    const socket = this.socket;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** `\0cirrusmq-lock-{sha256(dev:ino)}`: the leading NUL puts the socket in the abstract namespace. */
function socketName(dir: string): string {
  const st = fs.statSync(dir, { bigint: true });
  return `\0cirrusmq-lock-${createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 40)}`;
}

function listenAbstract(name: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => conn.destroy());
    server.once('error', reject);
    server.listen({ path: name }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Exclusive create of the holder file; a file naming a pid on this host that is gone is taken over. */
function takePidFile(dir: string, holder: LockHolder): void {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(holder) + '\n', { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const current = readHolder(dir);
    if (current && (current.host !== holder.host || isAlive(current.pid))) throw lockedError(dir, current);
    // Stale (its process is gone) or unreadable (a holder died while writing it): remove and retry.
    fs.rmSync(file, { force: true });
  }
  throw lockedError(dir, readHolder(dir));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Written whole then renamed, so a refused process never reads half of it. */
function writeHolderFile(dir: string, holder: LockHolder): void {
  const file = path.join(dir, LOCK_FILE);
  const tmp = path.join(dir, `.${LOCK_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(holder) + '\n');
  fs.renameSync(tmp, file);
}

export function readHolder(dir: string): LockHolder | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string') return undefined;
    return { pid: v.pid, host: v.host, since: String(v.since ?? '?'), owner: String(v.owner ?? '?') };
  } catch {
    return undefined;
  }
}

function lockedError(dir: string, holder: LockHolder | undefined): CirrusError {
  const who = holder
    ? `${holder.owner} (pid ${holder.pid} on host ${holder.host}, since ${holder.since})`
    : 'another process (it has not written its holder file yet)';
  const details: Record<string, string | number> = { folder: dir };
  if (holder) Object.assign(details, { holderPid: holder.pid, holderHost: holder.host, holderSince: holder.since, holderOwner: holder.owner });
  return new CirrusError('STORE_LOCKED', `folder ${dir} is locked by ${who}: one process per folder; stop it first or use another folder`, { details });
}
