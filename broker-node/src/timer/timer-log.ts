/**
 * The timer log (RocketMQ 5's TimerLog): append-only files of fixed 40-byte units, one per
 * timer placed in the wheel, named by the 20-digit position of their first unit. Each unit
 * links back to the previous unit of its slot, so a slot is a backward list on disk and the
 * heap holds no timer.
 *
 *  offset size field
 *   0     8   slotMs      the wheel slot it is linked into (its fire time, or a roll-forward time)
 *   8     8   deliverMs   when the message is due (> slotMs: rolled forward when the slot fires)
 *  16     8   offsetPy    CommitLog offset of the timer record (a cancel unit: of the cancel record)
 *  24     8   prevPos     previous unit of the same slot, -1 for none
 *  32     4   sizePy      the record's size
 *  36     4   magic       UNIT_NORMAL or UNIT_DELETE (a cancel: never linked, only replayed)
 *
 * Derived data: rebuilt from the timer topic in the CommitLog after a crash (timer-recovery.ts),
 * so writes are plain positioned writes, fsynced only before a checkpoint names them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readInt64, writeInt64 } from '@cirrusmq/client/protocol';

export const UNIT_SIZE = 40;
export const UNIT_NORMAL = 1;
export const UNIT_DELETE = 4;
/** Units readBackward reads at once (64 KiB). */
const READ_WINDOW_UNITS = 1638;

export interface TimerUnit {
  slotMs: number;
  deliverMs: number;
  offsetPy: number;
  prevPos: number;
  sizePy: number;
  magic: number;
}

interface LogFile {
  start: number;
  fd: number;
  /** The latest slot of any unit in it: the file may go once the wheel's read time is past it. */
  maxSlotMs: number;
}

export function writeUnit(buf: Buffer, at: number, u: TimerUnit): void {
  writeInt64(buf, u.slotMs, at);
  writeInt64(buf, u.deliverMs, at + 8);
  writeInt64(buf, u.offsetPy, at + 16);
  writeInt64(buf, u.prevPos, at + 24);
  buf.writeInt32BE(u.sizePy, at + 32);
  buf.writeInt32BE(u.magic, at + 36);
}

export function readUnit(buf: Buffer, at: number): TimerUnit {
  return {
    slotMs: readInt64(buf, at),
    deliverMs: readInt64(buf, at + 8),
    offsetPy: readInt64(buf, at + 16),
    prevPos: readInt64(buf, at + 24),
    sizePy: buf.readInt32BE(at + 32),
    magic: buf.readInt32BE(at + 36),
  };
}

export class TimerLog {
  private readonly files: LogFile[] = [];
  readonly fileSize: number;
  /** One past the last unit written. */
  private end = 0;
  private readonly one = Buffer.alloc(UNIT_SIZE);
  /** readBackward's window: the log's bytes [windowStart, windowEnd). */
  private readonly window = Buffer.allocUnsafe(READ_WINDOW_UNITS * UNIT_SIZE);
  private windowStart = 0;
  private windowEnd = 0;
  /** Files written since the last sync. */
  private readonly dirty = new Set<LogFile>();

  constructor(
    private readonly dir: string,
    unitsPerFile: number,
  ) {
    this.fileSize = unitsPerFile * UNIT_SIZE;
  }

  /** Opens the files and cuts the log at `end` (units past it were never checkpointed: the replay writes them again). */
  open(end: number): void {
    this.windowEnd = 0;
    fs.mkdirSync(this.dir, { recursive: true });
    const names = fs
      .readdirSync(this.dir)
      .filter((n) => /^\d{20}$/.test(n))
      .sort();
    for (const name of names) {
      const start = Number(name);
      if (start >= end) {
        fs.rmSync(path.join(this.dir, name), { force: true });
        continue;
      }
      this.files.push({ start, fd: fs.openSync(path.join(this.dir, name), 'r+'), maxSlotMs: Number.POSITIVE_INFINITY });
    }
    this.end = end;
  }

  get endPos(): number {
    return this.end;
  }

  /** The first position still on disk. */
  get startPos(): number {
    return this.files[0]?.start ?? this.end;
  }

  /** Appends `units` (already linked) back to back; returns the position of the first. */
  append(buf: Buffer, count: number): number {
    const first = this.end;
    let done = 0;
    while (done < count) {
      const file = this.fileFor(this.end);
      const inFile = this.end - file.start;
      const n = Math.min(count - done, (this.fileSize - inFile) / UNIT_SIZE);
      fs.writeSync(file.fd, buf, done * UNIT_SIZE, n * UNIT_SIZE, inFile);
      for (let i = 0; i < n; i++) {
        const slot = readInt64(buf, (done + i) * UNIT_SIZE);
        if (file.maxSlotMs === Number.POSITIVE_INFINITY || slot > file.maxSlotMs) file.maxSlotMs = slot;
      }
      this.dirty.add(file);
      done += n;
      this.end += n * UNIT_SIZE;
    }
    return first;
  }

  /** The position the next append will take (units linked before the append point at it). */
  nextPos(i: number): number {
    return this.end + i * UNIT_SIZE;
  }

  read(pos: number): TimerUnit {
    const file = this.fileAt(pos);
    if (!file) throw new Error(`timer log: no file holds position ${pos}`);
    fs.readSync(file.fd, this.one, 0, UNIT_SIZE, pos - file.start);
    return readUnit(this.one, 0);
  }

  /**
   * The unit at `pos`, read with the units before it in one read: a slot's list runs
   * backwards, mostly through units appended together (a burst's ten thousand per tick are a
   * few reads, not ten thousand). Units never change once written, but for recovery's rewrite,
   * which drops the window.
   */
  readBackward(pos: number): TimerUnit {
    return readUnit(this.window, this.windowAt(pos));
  }

  /**
   * readBackward without a unit object (a firing tick reads thousands): the unit's deliverMs,
   * offsetPy and sizePy go to `out` at `at`, at + 1, at + 2; returns its prevPos.
   */
  readBackwardInto(pos: number, out: Float64Array, at: number): number {
    const w = this.windowAt(pos);
    const buf = this.window;
    out[at] = readInt64(buf, w + 8);
    out[at + 1] = readInt64(buf, w + 16);
    out[at + 2] = buf.readInt32BE(w + 32);
    return readInt64(buf, w + 24);
  }

  /** Where the unit at `pos` is in the window, read (with the units before it) when it is not there. */
  private windowAt(pos: number): number {
    if (pos >= this.windowStart && pos + UNIT_SIZE <= this.windowEnd) return pos - this.windowStart;
    const file = this.fileAt(pos);
    if (!file) throw new Error(`timer log: no file holds position ${pos}`);
    const from = Math.max(file.start, pos + UNIT_SIZE - this.window.length);
    const n = fs.readSync(file.fd, this.window, 0, pos + UNIT_SIZE - from, from - file.start);
    this.windowStart = from;
    this.windowEnd = from + n;
    if (n < pos + UNIT_SIZE - from) throw new Error(`timer log: position ${pos} is past the end of its file`);
    return pos - from;
  }

  /** Units from `from` to the end, in runs read whole (recovery's scan). */
  *scan(from = this.startPos): Generator<{ pos: number; unit: TimerUnit }> {
    const buf = Buffer.allocUnsafe(4096 * UNIT_SIZE);
    for (const file of this.files) {
      const fileEnd = Math.min(file.start + this.fileSize, this.end);
      let pos = Math.max(from, file.start);
      let maxSlot = Number.NEGATIVE_INFINITY;
      while (pos < fileEnd) {
        const n = Math.min(buf.length, fileEnd - pos);
        fs.readSync(file.fd, buf, 0, n, pos - file.start);
        for (let at = 0; at < n; at += UNIT_SIZE) {
          const unit = readUnit(buf, at);
          yield { pos: pos + at, unit };
          // After the yield: recovery may have moved the unit to a later slot (rewrite), and the file must live until that one fires.
          if (unit.slotMs > maxSlot) maxSlot = unit.slotMs;
        }
        pos += n;
      }
      file.maxSlotMs = maxSlot;
    }
  }

  /** Writes a unit again in place (recovery relinks it). */
  rewrite(pos: number, unit: TimerUnit): void {
    this.windowEnd = 0;
    const file = this.fileAt(pos);
    if (!file) throw new Error(`timer log: no file holds position ${pos}`);
    writeUnit(this.one, 0, unit);
    fs.writeSync(file.fd, this.one, 0, UNIT_SIZE, pos - file.start);
    this.dirty.add(file);
  }

  /** fdatasync of the files written since the last call: a checkpoint may then name the end. */
  sync(): void {
    for (const f of this.dirty) fs.fdatasyncSync(f.fd);
    this.dirty.clear();
  }

  /** Deletes the oldest files whose every unit's slot is before `readTimeMs` (fired or rolled on); never the one written to. */
  deleteExpired(readTimeMs: number): number {
    let n = 0;
    while (this.files.length > 1 && this.files[0]!.maxSlotMs < readTimeMs && this.files[0]!.start + this.fileSize <= this.end) {
      const f = this.files.shift()!;
      fs.closeSync(f.fd);
      this.dirty.delete(f);
      fs.rmSync(path.join(this.dir, String(f.start).padStart(20, '0')), { force: true });
      this.windowEnd = 0;
      n++;
    }
    return n;
  }

  fileCount(): number {
    return this.files.length;
  }

  close(): void {
    for (const f of this.files) fs.closeSync(f.fd);
    this.files.length = 0;
    this.windowEnd = 0;
  }

  private fileAt(pos: number): LogFile | undefined {
    for (let i = this.files.length - 1; i >= 0; i--) {
      const f = this.files[i]!;
      if (pos >= f.start) return pos < f.start + this.fileSize ? f : undefined;
    }
    return undefined;
  }

  private fileFor(pos: number): LogFile {
    const last = this.files[this.files.length - 1];
    if (last && pos < last.start + this.fileSize) return last;
    const start = pos - (pos % this.fileSize);
    const fd = fs.openSync(path.join(this.dir, String(start).padStart(20, '0')), 'w+');
    const file: LogFile = { start, fd, maxSlotMs: Number.POSITIVE_INFINITY };
    this.files.push(file);
    return file;
  }
}
