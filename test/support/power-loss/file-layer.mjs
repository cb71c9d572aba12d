/**
 * A power-loss file layer over node:fs, for crash tests. For files under the watched folders
 * it records what a power cut would keep, in a durable image per folder (durable-image.mjs);
 * everything else passes straight through. The rules, those of a careful file system:
 *
 *   data     bytes written reach the image only when an fsync/fdatasync of that file (any fd
 *            of it) CALLED after the write completes. The sync captures the dirty ranges and
 *            the size at its call and applies them at its completion, so a write made while
 *            a sync is in flight is not covered by it. A completed sync also makes every
 *            earlier sync of the file durable (they were in the page cache when it started).
 *   size     ftruncate is data: a shrink or growth reaches the image with the file's next sync.
 *   create   a new file is absent from the image until its first completed sync (then it has
 *            its synced bytes) or a sync of its directory (then it has its size, zeros).
 *   rename,  apply to the image at once, as if the directory were synced right after: the
 *   link,    store syncs its directory after a rename, and a delete loses nothing it needs.
 *   delete,  A name renamed or linked from a file no sync made durable holds nothing.
 *   mkdir    (Stricter than this would call for a journal model; none of these hide a lost write.)
 *
 * What the layer does not see (a write through an API it does not wrap) never reaches the
 * image, so a gap in the layer shows as lost data, not as data kept that a real power cut
 * would lose. A write without a position marks the whole file dirty (correct, only slower).
 *
 * createFileLayer builds the wrappers from the real functions; install() puts them on the
 * node:fs module object and syncs its ESM named exports (preload.mjs does that in a broker
 * process; the unit tests call the wrappers directly).
 */
import { constants } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DurableImage } from './durable-image.mjs';

const SYNC_NAMES = [
  'openSync',
  'closeSync',
  'writeSync',
  'writevSync',
  'ftruncateSync',
  'truncateSync',
  'fdatasyncSync',
  'fsyncSync',
  'renameSync',
  'linkSync',
  'rmSync',
  'unlinkSync',
  'rmdirSync',
  'mkdirSync',
  'writeFileSync',
  'appendFileSync',
  'copyFileSync',
  'existsSync',
  'fstatSync',
  'statSync',
  'readSync',
  'readdirSync',
];
const CALLBACK_NAMES = ['open', 'close', 'write', 'writev', 'ftruncate', 'fdatasync', 'fsync', 'rename', 'link', 'rm', 'unlink', 'mkdir'];
const PROMISE_NAMES = ['open', 'rename', 'link', 'rm', 'unlink', 'rmdir', 'mkdir', 'writeFile', 'appendFile', 'copyFile', 'truncate'];

/**
 * @param {typeof import('node:fs')} fs the node:fs module object (its current functions are kept as the real ones)
 * @param {{ roots: { dir: string, image: string }[] }} options
 */
export function createFileLayer(fs, options) {
  const real = {};
  for (const n of SYNC_NAMES) real[n] = fs[n].bind(fs);
  for (const n of CALLBACK_NAMES) real[n] = fs[n].bind(fs);
  real.promises = {};
  for (const n of PROMISE_NAMES) real.promises[n] = fs.promises[n].bind(fs.promises);

  const images = options.roots.map((r) => new DurableImage(real, path.resolve(r.dir), path.resolve(r.image)));
  /** @type {Map<string, FileState>} dirty or not-yet-durable files, by absolute path */
  const files = new Map();
  /** @type {Map<number, { path: string, dir: boolean }>} open fds under a watched folder */
  const fds = new Map();

  const imageOf = (abs) => images.find((im) => abs === im.root || abs.startsWith(im.root + path.sep));
  const toAbs = (p) => path.resolve(p instanceof URL ? fileURLToPath(p) : Buffer.isBuffer(p) ? p.toString() : String(p));
  const stateOf = (abs) => {
    let s = files.get(abs);
    if (!s) files.set(abs, (s = new FileState(abs)));
    return s;
  };

  // ---- bookkeeping

  function register(fd, abs, existed, flags) {
    const dir = real.fstatSync(fd).isDirectory();
    fds.set(fd, { path: abs, dir });
    if (dir) return;
    if (!existed) stateOf(abs).isNew = true;
    else if (truncates(flags)) stateOf(abs).shrunkTo(0);
  }

  /** An fd number reused for a file outside the watched folders (its last close may not have come through us). */
  function unwatched(fd) {
    fds.delete(fd);
    return fd;
  }

  function markWritten(fd, position, n) {
    const e = fds.get(fd);
    if (!e || e.dir || n <= 0) return;
    stateOf(e.path).written(position, n);
  }

  function markWholeFile(abs, existed) {
    const s = stateOf(abs);
    s.all = true;
    if (!existed) s.isNew = true;
  }

  function renamed(fromAbs, toAbs2) {
    const fromImage = imageOf(fromAbs);
    const toImage = imageOf(toAbs2);
    if (fromImage && fromImage === toImage) {
      forget(toAbs2);
      fromImage.rename(fromAbs, toAbs2);
      for (const [k, s] of [...files]) {
        if (!within(k, fromAbs)) continue;
        files.delete(k);
        s.path = toAbs2 + k.slice(fromAbs.length);
        files.set(s.path, s);
      }
      for (const e of fds.values()) if (within(e.path, fromAbs)) e.path = toAbs2 + e.path.slice(fromAbs.length);
      return;
    }
    if (fromImage) removed(fromAbs);
    if (toImage) {
      forget(toAbs2);
      markWholeFile(toAbs2, false);
    }
  }

  /** A second name for the file at `fromAbs`: in the image a hard link too, so later syncs reach both names. */
  function linked(fromAbs, toAbs2) {
    const image = imageOf(toAbs2);
    if (!image) return;
    forget(toAbs2);
    if (imageOf(fromAbs) === image) image.link(fromAbs, toAbs2);
    else markWholeFile(toAbs2, false);
  }

  function removed(abs) {
    const image = imageOf(abs);
    if (!image) return;
    forget(abs);
    image.remove(abs);
  }

  /** Drops the states (and fd mappings) at or under `abs`: that name now means another file, or none. */
  function forget(abs) {
    for (const [k, s] of [...files]) {
      if (!within(k, abs)) continue;
      s.gone = true;
      files.delete(k);
    }
    for (const [fd, e] of [...fds]) if (within(e.path, abs)) fds.delete(fd);
  }

  // ---- syncs: begin (capture at the call), end (apply at completion) or fail

  function beginSync(fd) {
    const e = fds.get(fd);
    if (!e) return undefined;
    if (e.dir) {
      const created = [];
      for (const s of files.values()) {
        if (!s.isNew || path.dirname(s.path) !== e.path) continue;
        try {
          created.push({ state: s, size: real.statSync(s.path).size });
        } catch {
          // Gone already.
        }
      }
      return { created };
    }
    const s = files.get(e.path);
    // Nothing dirty and nothing in flight: the image has the file as it is.
    if (!s) return undefined;
    const size = real.fstatSync(fd).size;
    const ranges = s.all ? [[0, size]] : mergeRanges(s.ranges, size);
    const chunks = readRanges(e.path, ranges);
    const sync = { seq: ++s.seq, truncateTo: s.minSize, size, chunks, ranges };
    s.ranges = [];
    s.all = false;
    s.minSize = undefined;
    s.pending.push(sync);
    return { state: s, sync };
  }

  function endSync(plan) {
    if (!plan) return;
    if (plan.created) {
      for (const { state, size } of plan.created) {
        if (!state.isNew || state.gone) continue;
        imageOf(state.path).createEmpty(state.path, size);
        state.isNew = false;
      }
      return;
    }
    const { state, sync } = plan;
    if (state.gone) return;
    const image = imageOf(state.path);
    while (state.pending.length > 0 && state.pending[0].seq <= sync.seq) {
      image.applySync(state.path, state.pending.shift());
      state.isNew = false;
    }
    if (!state.hasWork() && !state.isNew && state.pending.length === 0 && files.get(state.path) === state) files.delete(state.path);
  }

  function failSync(plan) {
    if (!plan || plan.created) return;
    const { state, sync } = plan;
    const i = state.pending.indexOf(sync);
    if (i >= 0) state.pending.splice(i, 1);
    // Not durable after all: its bytes are dirty again.
    for (const [a, b] of sync.ranges) state.ranges.push([a, b]);
    if (sync.truncateTo !== undefined) state.shrunkTo(sync.truncateTo);
  }

  function readRanges(abs, ranges) {
    if (ranges.length === 0) return [];
    // A separate read fd: the writer's fd may be write-only.
    const rfd = real.openSync(abs, 'r');
    try {
      return ranges.map(([a, b]) => {
        const bytes = Buffer.allocUnsafe(b - a);
        let done = 0;
        while (done < bytes.length) {
          const n = real.readSync(rfd, bytes, done, bytes.length - done, a + done);
          if (n === 0) break;
          done += n;
        }
        return { position: a, bytes: bytes.subarray(0, done) };
      });
    } finally {
      real.closeSync(rfd);
    }
  }

  const syncNow = (realSync) => (fd) => {
    const plan = beginSync(fd);
    try {
      realSync(fd);
    } catch (e) {
      failSync(plan);
      throw e;
    }
    endSync(plan);
  };
  const syncCallback = (realSync) => (fd, cb) => {
    const plan = beginSync(fd);
    realSync(fd, (err) => {
      if (err) failSync(plan);
      else endSync(plan);
      cb(err);
    });
  };

  // ---- the wrappers

  const sync = {
    openSync(p, flags, mode) {
      const abs = toAbs(p);
      if (!imageOf(abs)) return unwatched(real.openSync(p, flags, mode));
      const existed = real.existsSync(abs);
      const fd = real.openSync(p, flags, mode);
      register(fd, abs, existed, flags);
      return fd;
    },
    closeSync(fd) {
      real.closeSync(fd);
      // Only after it closed: a close that fails (EBADF) closed nothing of ours.
      fds.delete(fd);
    },
    writeSync(fd, buffer, ...rest) {
      const n = real.writeSync(fd, buffer, ...rest);
      markWritten(fd, positionOf(buffer, rest), n);
      return n;
    },
    writevSync(fd, buffers, position) {
      const n = real.writevSync(fd, buffers, position);
      markWritten(fd, typeof position === 'number' ? position : null, n);
      return n;
    },
    ftruncateSync(fd, len = 0) {
      const e = fds.get(fd);
      if (!e || e.dir) return real.ftruncateSync(fd, len);
      const old = real.fstatSync(fd).size;
      real.ftruncateSync(fd, len);
      stateOf(e.path).shrunkTo(Math.min(old, len));
    },
    truncateSync(p, len = 0) {
      const abs = typeof p === 'number' ? undefined : toAbs(p);
      if (abs === undefined) return sync.ftruncateSync(p, len);
      if (!imageOf(abs)) return real.truncateSync(p, len);
      const old = real.statSync(abs).size;
      real.truncateSync(p, len);
      stateOf(abs).shrunkTo(Math.min(old, len));
    },
    fdatasyncSync: syncNow(real.fdatasyncSync),
    fsyncSync: syncNow(real.fsyncSync),
    renameSync(from, to) {
      real.renameSync(from, to);
      renamed(toAbs(from), toAbs(to));
    },
    linkSync(from, to) {
      real.linkSync(from, to);
      linked(toAbs(from), toAbs(to));
    },
    rmSync(p, opts) {
      real.rmSync(p, opts);
      removed(toAbs(p));
    },
    unlinkSync(p) {
      real.unlinkSync(p);
      removed(toAbs(p));
    },
    rmdirSync(p, opts) {
      real.rmdirSync(p, opts);
      removed(toAbs(p));
    },
    mkdirSync(p, opts) {
      const r = real.mkdirSync(p, opts);
      const abs = toAbs(p);
      imageOf(abs)?.mkdir(abs);
      return r;
    },
    writeFileSync(file, ...rest) {
      return wholeFile(file, () => real.writeFileSync(file, ...rest));
    },
    appendFileSync(file, ...rest) {
      return wholeFile(file, () => real.appendFileSync(file, ...rest));
    },
    copyFileSync(src, dest, mode) {
      return wholeFile(dest, () => real.copyFileSync(src, dest, mode));
    },
  };

  function wholeFile(file, run) {
    if (typeof file === 'number') {
      const r = run();
      const e = fds.get(file);
      if (e && !e.dir) markWholeFile(e.path, true);
      return r;
    }
    const abs = toAbs(file);
    if (!imageOf(abs)) return run();
    const existed = real.existsSync(abs);
    const r = run();
    markWholeFile(abs, existed);
    return r;
  }

  async function wholeFileAsync(file, run) {
    if (typeof file === 'number' || typeof file?.fd === 'number') {
      const r = await run();
      const e = fds.get(typeof file === 'number' ? file : file.fd);
      if (e && !e.dir) markWholeFile(e.path, true);
      return r;
    }
    const abs = toAbs(file);
    if (!imageOf(abs)) return run();
    const existed = real.existsSync(abs);
    const r = await run();
    markWholeFile(abs, existed);
    return r;
  }

  const callback = {
    open(p, ...args) {
      const cb = args.pop();
      const abs = toAbs(p);
      if (!imageOf(abs)) return real.open(p, ...args, (err, fd) => cb(err, err ? fd : unwatched(fd)));
      const existed = real.existsSync(abs);
      real.open(p, ...args, (err, fd) => {
        if (!err) register(fd, abs, existed, args[0]);
        cb(err, fd);
      });
    },
    close(fd, cb) {
      fds.delete(fd);
      real.close(fd, cb);
    },
    write(fd, buffer, ...args) {
      const cb = args.pop();
      const position = positionOf(buffer, args);
      real.write(fd, buffer, ...args, (err, n, b) => {
        if (!err) markWritten(fd, position, n);
        cb(err, n, b);
      });
    },
    writev(fd, buffers, ...args) {
      const cb = args.pop();
      const position = typeof args[0] === 'number' ? args[0] : null;
      real.writev(fd, buffers, ...args, (err, n, b) => {
        if (!err) markWritten(fd, position, n);
        cb(err, n, b);
      });
    },
    ftruncate(fd, ...args) {
      const cb = args.pop();
      const len = args[0] ?? 0;
      const e = fds.get(fd);
      if (!e || e.dir) return real.ftruncate(fd, len, cb);
      const old = real.fstatSync(fd).size;
      real.ftruncate(fd, len, (err) => {
        if (!err) stateOf(e.path).shrunkTo(Math.min(old, len));
        cb(err);
      });
    },
    fdatasync: syncCallback(real.fdatasync),
    fsync: syncCallback(real.fsync),
    rename(from, to, cb) {
      real.rename(from, to, (err) => {
        if (!err) renamed(toAbs(from), toAbs(to));
        cb(err);
      });
    },
    link(from, to, cb) {
      real.link(from, to, (err) => {
        if (!err) linked(toAbs(from), toAbs(to));
        cb(err);
      });
    },
    rm(p, ...args) {
      const cb = args.pop();
      real.rm(p, ...args, (err) => {
        if (!err) removed(toAbs(p));
        cb(err);
      });
    },
    unlink(p, cb) {
      real.unlink(p, (err) => {
        if (!err) removed(toAbs(p));
        cb(err);
      });
    },
    mkdir(p, ...args) {
      const cb = args.pop();
      real.mkdir(p, ...args, (err, r) => {
        if (!err) {
          const abs = toAbs(p);
          imageOf(abs)?.mkdir(abs);
        }
        cb(err, r);
      });
    },
  };

  const promises = {
    async open(p, flags, mode) {
      const abs = toAbs(p);
      if (!imageOf(abs)) return real.promises.open(p, flags, mode).then((fh) => (unwatched(fh.fd), fh));
      const existed = real.existsSync(abs);
      const fh = await real.promises.open(p, flags, mode);
      register(fh.fd, abs, existed, flags);
      wrapHandle(fh);
      return fh;
    },
    async rename(from, to) {
      await real.promises.rename(from, to);
      renamed(toAbs(from), toAbs(to));
    },
    async link(from, to) {
      await real.promises.link(from, to);
      linked(toAbs(from), toAbs(to));
    },
    async rm(p, opts) {
      await real.promises.rm(p, opts);
      removed(toAbs(p));
    },
    async unlink(p) {
      await real.promises.unlink(p);
      removed(toAbs(p));
    },
    async rmdir(p, opts) {
      await real.promises.rmdir(p, opts);
      removed(toAbs(p));
    },
    async mkdir(p, opts) {
      const r = await real.promises.mkdir(p, opts);
      const abs = toAbs(p);
      imageOf(abs)?.mkdir(abs);
      return r;
    },
    writeFile(file, ...rest) {
      return wholeFileAsync(file, () => real.promises.writeFile(file, ...rest));
    },
    appendFile(file, ...rest) {
      return wholeFileAsync(file, () => real.promises.appendFile(file, ...rest));
    },
    copyFile(src, dest, mode) {
      return wholeFileAsync(dest, () => real.promises.copyFile(src, dest, mode));
    },
    async truncate(p, len = 0) {
      const abs = toAbs(p);
      if (!imageOf(abs)) return real.promises.truncate(p, len);
      const old = real.statSync(abs).size;
      await real.promises.truncate(p, len);
      stateOf(abs).shrunkTo(Math.min(old, len));
    },
  };

  /** A FileHandle's own methods do not go through node:fs: each is wrapped on the instance. */
  function wrapHandle(fh) {
    const fd = fh.fd;
    const orig = {
      write: fh.write,
      writev: fh.writev,
      datasync: fh.datasync,
      sync: fh.sync,
      truncate: fh.truncate,
      close: fh.close,
      writeFile: fh.writeFile,
      appendFile: fh.appendFile,
    };
    fh.write = async (buffer, ...rest) => {
      const r = await orig.write.call(fh, buffer, ...rest);
      markWritten(fd, positionOf(buffer, rest), r.bytesWritten);
      return r;
    };
    fh.writev = async (buffers, position) => {
      const r = await orig.writev.call(fh, buffers, position);
      markWritten(fd, typeof position === 'number' ? position : null, r.bytesWritten);
      return r;
    };
    const handleSync = (realSync) => async () => {
      const plan = beginSync(fd);
      try {
        await realSync.call(fh);
      } catch (e) {
        failSync(plan);
        throw e;
      }
      endSync(plan);
    };
    fh.datasync = handleSync(orig.datasync);
    fh.sync = handleSync(orig.sync);
    fh.truncate = async (len = 0) => {
      const e = fds.get(fd);
      const old = real.fstatSync(fd).size;
      await orig.truncate.call(fh, len);
      if (e && !e.dir) stateOf(e.path).shrunkTo(Math.min(old, len));
    };
    fh.writeFile = (...args) => wholeFileAsync(fd, () => orig.writeFile.call(fh, ...args));
    fh.appendFile = (...args) => wholeFileAsync(fd, () => orig.appendFile.call(fh, ...args));
    fh.close = async () => {
      // A second close of a handle is a no-op in node, and its old fd number may name another file by now.
      if (fh.fd === fd) fds.delete(fd);
      return orig.close.call(fh);
    };
  }

  return {
    sync,
    callback,
    promises,
    images,
    /** The image starts as what is on disk now. */
    seed() {
      for (const im of images) im.seed();
    },
    /** Puts the wrappers on the node:fs module object (and its ESM named exports). */
    install() {
      Object.assign(fs, sync, callback);
      Object.assign(fs.promises, promises);
      syncBuiltinESMExports();
    },
  };
}

class FileState {
  constructor(p) {
    this.path = p;
    /** @type {[number, number][]} written since the last sync call, [start, end) */
    this.ranges = [];
    /** Written without a position: the whole file counts. */
    this.all = false;
    /** The smallest size a truncate left since the last sync call: bytes past it are gone. */
    this.minSize = undefined;
    /** Created by this process and not yet in the image. */
    this.isNew = false;
    this.seq = 0;
    /** Syncs called and not yet completed, oldest first. */
    this.pending = [];
    /** Deleted or replaced: late completions must not touch the image under its old name. */
    this.gone = false;
  }

  written(position, n) {
    if (position === null) {
      this.all = true;
      return;
    }
    const last = this.ranges[this.ranges.length - 1];
    // Appends extend the last range: the common case stays one entry.
    if (last && position >= last[0] && position <= last[1]) last[1] = Math.max(last[1], position + n);
    else this.ranges.push([position, position + n]);
  }

  shrunkTo(size) {
    this.minSize = this.minSize === undefined ? size : Math.min(this.minSize, size);
  }

  hasWork() {
    return this.all || this.ranges.length > 0 || this.minSize !== undefined || this.isNew;
  }
}

/** Sorted, overlaps joined, clipped to `size`. */
function mergeRanges(ranges, size) {
  const sorted = ranges
    .map(([a, b]) => [a, Math.min(b, size)])
    .filter(([a, b]) => a < b)
    .sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** The file position of a write call's arguments (after fd and buffer), or null for "at the current position". */
function positionOf(buffer, rest) {
  let p;
  if (typeof buffer === 'string') p = rest[0];
  else if (rest[0] !== null && typeof rest[0] === 'object') p = rest[0].position;
  else p = rest[2];
  if (typeof p === 'bigint') return Number(p);
  return typeof p === 'number' ? p : null;
}

function truncates(flags) {
  if (typeof flags === 'string') return flags.includes('w');
  return typeof flags === 'number' && (flags & constants.O_TRUNC) !== 0;
}

function within(p, base) {
  return p === base || p.startsWith(base + path.sep);
}
