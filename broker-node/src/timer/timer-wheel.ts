/**
 * The timer wheel (RocketMQ 5's TimerWheel): a file of fixed 16-byte slots, one per tick of
 * `precisionMs` over the wheel's span, each {timeMs, lastPos}: the tick it holds and the last
 * timer-log unit linked into it (the list runs backwards through prevPos). A slot whose timeMs
 * is another tick is empty: the wheel is reused round after round without being cleared.
 *
 * Read and written with positioned I/O, so its size (span / precision x 16 bytes) costs page
 * cache, not heap. It is rebuilt from the timer log at every start (timer-recovery.ts), so it
 * is never fsynced and no crash can leave it disagreeing with the log.
 */
import fs from 'node:fs';

export const SLOT_SIZE = 16;

export class TimerWheel {
  readonly slotsTotal: number;
  private fd = -1;
  private readonly one = Buffer.alloc(SLOT_SIZE);
  /** Slots linked during the current enqueue pass, written at its end: a burst into one tick reads and writes its slot once. */
  private readonly pending = new Map<number, { timeMs: number; lastPos: number }>();

  constructor(
    private readonly file: string,
    readonly precisionMs: number,
    spanMs: number,
  ) {
    this.slotsTotal = Math.ceil(spanMs / precisionMs);
  }

  /** A new, empty wheel (sparse: untouched slots cost no disk). */
  open(): void {
    this.fd = fs.openSync(this.file, 'w+');
    fs.ftruncateSync(this.fd, this.slotsTotal * SLOT_SIZE);
  }

  /** The slot's last unit for tick `timeMs`, or -1 when nothing is linked there. */
  lastPos(timeMs: number): number {
    const cached = this.pending.get(this.index(timeMs));
    if (cached) return cached.timeMs === timeMs ? cached.lastPos : -1;
    fs.readSync(this.fd, this.one, 0, SLOT_SIZE, this.index(timeMs) * SLOT_SIZE);
    return Number(this.one.readBigInt64BE(0)) === timeMs ? Number(this.one.readBigInt64BE(8)) : -1;
  }

  /** Makes `pos` the slot's last unit (its prevPos must be lastPos(timeMs)); written by flushPending. */
  link(timeMs: number, pos: number): void {
    this.pending.set(this.index(timeMs), { timeMs, lastPos: pos });
  }

  flushPending(): void {
    if (this.pending.size === 0) return;
    const buf = Buffer.allocUnsafe(SLOT_SIZE);
    for (const [index, slot] of this.pending) {
      buf.writeBigInt64BE(BigInt(slot.timeMs), 0);
      buf.writeBigInt64BE(BigInt(slot.lastPos), 8);
      fs.writeSync(this.fd, buf, 0, SLOT_SIZE, index * SLOT_SIZE);
    }
    this.pending.clear();
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private index(timeMs: number): number {
    return Math.floor(timeMs / this.precisionMs) % this.slotsTotal;
  }
}
