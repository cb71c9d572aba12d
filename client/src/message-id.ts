/**
 * UNIQ_KEY message ids, as RocketMQ's MessageClientIDSetter makes them: 16 bytes as 32 hex
 * characters = a per-process prefix (4 random bytes standing for the IP, 2 for the pid,
 * 4 random) + milliseconds since the month began (4) + a counter (2).
 * The prefix is formatted once; the rest is looked up a byte at a time.
 */
import { randomBytes } from 'node:crypto';

function buildPrefix(): string {
  const b = Buffer.alloc(10);
  randomBytes(4).copy(b, 0);
  b.writeUInt16BE(process.pid & 0xffff, 4);
  randomBytes(4).copy(b, 6);
  return b.toString('hex').toUpperCase();
}

const PREFIX = buildPrefix();
let counter = 0;

function startOfMonth(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

let monthStart = startOfMonth(Date.now());
let nextMonthCheck = monthStart + 31 * 86_400_000;

/** "00" to "FF". */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/** The id's first 28 characters for the millisecond `lastNow` (all but the counter). */
let lastNow = -1;
let head = '';

export function createUniqId(now = Date.now()): string {
  if (now !== lastNow) {
    if (now >= nextMonthCheck) {
      monthStart = startOfMonth(now);
      nextMonthCheck = monthStart + 31 * 86_400_000;
    }
    const delta = (now - monthStart) >>> 0;
    head = PREFIX + HEX[delta >>> 24]! + HEX[(delta >>> 16) & 0xff]! + HEX[(delta >>> 8) & 0xff]! + HEX[delta & 0xff]!;
    lastNow = now;
  }
  counter = (counter + 1) & 0xffff;
  return head + HEX[counter >>> 8]! + HEX[counter & 0xff]!;
}
