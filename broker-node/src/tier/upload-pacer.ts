/**
 * Paces a sealed segment's upload so it never runs flat out beside the send path: the
 * uploader's reads (the copy to the tier and the verifying scan) ask for their bytes here
 * before they move. At most `bytesPerSec` on average, with a short burst allowance so a
 * pause (a GC, a slow request) is caught up on a little but never in one rush.
 *
 * Every call also gives the event loop a turn (setImmediate, or a timer when over the
 * rate), so sends waiting behind a chunk run before the next chunk: the uploader holds the
 * loop for one chunk's work at a time, never for a whole segment's.
 */
import zlib from 'node:zlib';

/** Bytes a late caller may take at once to catch up, in ms of the rate. */
const BURST_MS = 100;

export class UploadPacer {
  /** When the bytes taken so far are due, on the clock (ms). */
  private dueAt = 0;

  /** `bytesPerSec` 0: no limit, only the turns. A function is asked at every take (the rate may change mid-upload). */
  constructor(
    private readonly bytesPerSec: number | (() => number),
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Resolves when `bytes` more may move: after a turn of the event loop, and no sooner than the rate allows. */
  take(bytes: number): Promise<void> {
    const rate = typeof this.bytesPerSec === 'function' ? this.bytesPerSec() : this.bytesPerSec;
    const now = this.clock();
    if (rate <= 0) {
      this.dueAt = now;
      return nextTurn();
    }
    this.dueAt = Math.max(this.dueAt, now - BURST_MS) + (bytes * 1000) / rate;
    const waitMs = this.dueAt - now;
    return waitMs >= 1 ? new Promise((resolve) => setTimeout(resolve, waitMs)) : nextTurn();
  }
}

/** A pacer for when nothing limits the rate: turns only. */
export const UNPACED = new UploadPacer(0);

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** CRC32 work per turn of the event loop: ~1 ms at zlib's ~1.3 GB/s here. */
const CRC_STEP_BYTES = 1024 * 1024;

/**
 * zlib.crc32 of `buf` continuing `crc`, a megabyte per turn of the event loop: a 4 MiB copy
 * chunk or an 8 MiB part would otherwise hold the loop for 3–6 ms in one call.
 */
export async function crc32InSteps(buf: Uint8Array, crc = 0): Promise<number> {
  let c = crc;
  for (let at = 0; at < buf.length; at += CRC_STEP_BYTES) {
    if (at > 0) await nextTurn();
    c = zlib.crc32(buf.subarray(at, Math.min(buf.length, at + CRC_STEP_BYTES)), c);
  }
  return c;
}
