/**
 * The durable image of one folder: a mirror (same relative paths) holding only what a
 * completed fsync/fdatasync made durable in the real folder. The file layer (file-layer.mjs)
 * changes it; pulling the plug (power-loss.ts) copies it back over the real folder.
 *
 * Plain JS with the node:fs functions passed in: the layer hands it the originals it saved
 * before patching node:fs, so the image's own IO is never tracked.
 */
import path from 'node:path';

/** Copies skip all-zero blocks of this size: store files are mostly holes (sparse segments, index files). */
const BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(BLOCK);

export class DurableImage {
  /**
   * @param {typeof import('node:fs')} fs the real (unpatched) functions
   * @param {string} root the real folder (absolute)
   * @param {string} dir the image folder (absolute, outside root)
   */
  constructor(fs, root, dir) {
    this.fs = fs;
    this.root = root;
    this.dir = dir;
  }

  /** Where `abs` (a path under root) lives in the image. */
  pathOf(abs) {
    return path.join(this.dir, path.relative(this.root, abs));
  }

  /** The image starts as what is on disk: a process start follows a clean stop or a pulled plug, both durable. */
  seed() {
    this.fs.rmSync(this.dir, { recursive: true, force: true });
    if (this.fs.existsSync(this.root)) copyTreeSparse(this.fs, this.root, this.dir);
    else this.fs.mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Applies one completed sync of a file: bytes past `truncateTo` (a shrink since the last
   * sync) go, the file takes `size`, then the captured chunks are written.
   * @param {string} abs
   * @param {{ truncateTo: number | undefined, size: number, chunks: { position: number, bytes: Buffer }[] }} sync
   */
  applySync(abs, sync) {
    const file = this.pathOf(abs);
    this.fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = this.fs.openSync(file, this.fs.existsSync(file) ? 'r+' : 'w+');
    try {
      if (sync.truncateTo !== undefined && this.fs.fstatSync(fd).size > sync.truncateTo) this.fs.ftruncateSync(fd, sync.truncateTo);
      this.fs.ftruncateSync(fd, sync.size);
      for (const c of sync.chunks) writeFully(this.fs, fd, c.bytes, c.bytes.length, c.position);
    } finally {
      this.fs.closeSync(fd);
    }
  }

  /** A new file's name became durable (its directory was synced): it exists with `size` bytes, its data as synced so far (none: zeros). */
  createEmpty(abs, size) {
    const file = this.pathOf(abs);
    if (this.fs.existsSync(file)) return;
    this.fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = this.fs.openSync(file, 'w');
    try {
      this.fs.ftruncateSync(fd, size);
    } finally {
      this.fs.closeSync(fd);
    }
  }

  rename(fromAbs, toAbs) {
    const from = this.pathOf(fromAbs);
    const to = this.pathOf(toAbs);
    if (this.fs.existsSync(from)) {
      this.fs.mkdirSync(path.dirname(to), { recursive: true });
      this.fs.renameSync(from, to);
    } else {
      // The source never became durable: after a crash the target name holds nothing.
      this.fs.rmSync(to, { recursive: true, force: true });
    }
  }

  link(fromAbs, toAbs) {
    const from = this.pathOf(fromAbs);
    const to = this.pathOf(toAbs);
    this.fs.rmSync(to, { recursive: true, force: true });
    if (!this.fs.existsSync(from)) return;
    this.fs.mkdirSync(path.dirname(to), { recursive: true });
    this.fs.linkSync(from, to);
  }

  remove(abs) {
    this.fs.rmSync(this.pathOf(abs), { recursive: true, force: true });
  }

  mkdir(abs) {
    this.fs.mkdirSync(this.pathOf(abs), { recursive: true });
  }
}

/**
 * Copies the tree `from` into `to` (created if missing), files block by block with all-zero
 * blocks left as holes and each file's size kept.
 * @param {typeof import('node:fs')} fs
 */
export function copyTreeSparse(fs, from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, entry.name);
    const b = path.join(to, entry.name);
    if (entry.isDirectory()) copyTreeSparse(fs, a, b);
    else if (entry.isFile()) copyFileSparse(fs, a, b);
  }
}

/** @param {typeof import('node:fs')} fs */
export function copyFileSparse(fs, from, to) {
  const src = fs.openSync(from, 'r');
  try {
    const dst = fs.openSync(to, 'w');
    try {
      const size = fs.fstatSync(src).size;
      const buf = Buffer.allocUnsafe(BLOCK);
      for (let pos = 0; pos < size; ) {
        const n = fs.readSync(src, buf, 0, Math.min(BLOCK, size - pos), pos);
        if (n === 0) break;
        if (buf.compare(ZEROS, 0, n, 0, n) !== 0) writeFully(fs, dst, buf, n, pos);
        pos += n;
      }
      fs.ftruncateSync(dst, size);
    } finally {
      fs.closeSync(dst);
    }
  } finally {
    fs.closeSync(src);
  }
}

function writeFully(fs, fd, buf, length, position) {
  let done = 0;
  while (done < length) done += fs.writeSync(fd, buf, done, length - done, position + done);
}
