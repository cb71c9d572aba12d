/**
 * UNIQ_KEY message ids, as RocketMQ's MessageClientIDSetter makes them: 16 bytes as 32 hex
 * characters = a per-process prefix (4 random bytes standing for the IP, 2 for the pid,
 * 4 random) + milliseconds since the month began (4) + a counter (2).
 * The prefix is formatted once, so an id costs two small hex conversions.
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

export function createUniqId(now = Date.now()): string {
  if (now >= nextMonthCheck) {
    monthStart = startOfMonth(now);
    nextMonthCheck = monthStart + 31 * 86_400_000;
  }
  const delta = (now - monthStart) >>> 0;
  counter = (counter + 1) & 0xffff;
  return PREFIX + delta.toString(16).toUpperCase().padStart(8, '0') + counter.toString(16).toUpperCase().padStart(4, '0');
}
