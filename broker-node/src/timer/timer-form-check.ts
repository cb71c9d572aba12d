/**
 * The broker's check of a send batch in the timer form (codec/timer-batch.ts). The sender did
 * the rewrite RocketMQ's broker does (HookUtils.transformTimerMessage), so nothing it says is
 * taken on trust: each record must be exactly what divertTimers makes of the plain record its
 * own properties stand for (REAL_TOPIC and REAL_QID the batch's queue, no property only the
 * broker writes), its schedule is read again (INVALID_DELAY as for the plain form), and its
 * TIMER_OUT_MS is what this broker computes: a relative delay counts from this broker's clock,
 * so a sender's differing figure is overwritten in place (same digits: no re-encode).
 */
import { CirrusError, delayLevelMs, MessageConst, type PreparedMessage, type SendBatch, TIMER_TOPIC, timerSuffixHead } from '@cirrusmq/client/protocol';
import { batchOf, deliverTimeOf, preparedFrom, TIMER_INTERNAL_PROPERTIES } from './timer-record';

const C = MessageConst;
const NAME_VALUE = 1;
const PROPERTY = 2;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
/** The first bytes of the names a check looks at (R: REAL_*, T: TIMER_*, D: DELAY): other properties are skipped unread. */
const R = 82;
const T = 84;
const D = 68;
const DELIVER_MS = Buffer.from(C.TIMER_DELIVER_MS);
const DELAY_SEC = Buffer.from(C.TIMER_DELAY_SEC);
const LEVEL = Buffer.from(C.DELAY);
const INTERNAL = TIMER_INTERNAL_PROPERTIES.map((n) => Buffer.from(n));

/** Where each kind of schedule's value lies in the body (-1: absent). */
interface Schedule {
  deliverFrom: number;
  deliverTo: number;
  delayFrom: number;
  delayTo: number;
  levelFrom: number;
  levelTo: number;
}

export interface CheckedTimerForm {
  /** The batch under TIMER_TOPIC queue 0, ready to store (undefined: see `plain`). */
  timers: SendBatch | undefined;
  deliverMs: number[];
  /** When a record is due already by this broker's clock: the batch in the plain form, for the plain path. */
  plain: SendBatch | undefined;
}

export function checkTimerForm(batch: SendBatch, now: number, maxDelayMs: number): CheckedTimerForm {
  const { body, records, topic, queueId } = batch;
  const head = Buffer.from(timerSuffixHead(topic, queueId), 'latin1');
  const deliverMs: number[] = new Array(records.length);
  const ownEnd: number[] = new Array(records.length);
  let dueAlready = false;
  const schedule: Schedule = { deliverFrom: -1, deliverTo: -1, delayFrom: -1, delayTo: -1, levelFrom: -1, levelTo: -1 };
  for (let i = 0; i < records.length; i++) {
    const { shape } = records[i]!;
    const start = shape.propertiesStart;
    const last = start + shape.propertiesLength - 1;
    // The suffix closes the properties (TIMER_OUT_MS's digits, then PROPERTY), and starts a property of its own.
    let d = last;
    while (d > start && body[d - 1]! >= DIGIT_0 && body[d - 1]! <= DIGIT_9) d--;
    const cut = d - head.length;
    if (
      body[last] !== PROPERTY ||
      last - d < 1 ||
      last - d > 16 ||
      cut < start ||
      head.compare(body, cut, d) !== 0 ||
      (cut > start && body[cut - 1] !== PROPERTY)
    ) {
      throw forged(i, `does not end with REAL_TOPIC ${topic}, REAL_QID ${queueId} and a TIMER_OUT_MS`);
    }
    readSchedule(body, start, cut, schedule);
    const at = dueTime(body, schedule, now, maxDelayMs);
    if (at === undefined) throw forged(i, 'has no schedule');
    ownEnd[i] = cut;
    deliverMs[i] = at;
    if (at <= now) {
      dueAlready = true;
      continue;
    }
    if (last - d === 13 && readDigits(body, d, last) === at) continue;
    // A relative delay from the sender's clock: this broker's figure, in place (epoch ms keep 13 digits until 2286).
    const ours = String(at);
    if (ours.length !== last - d) throw forged(i, 'has a TIMER_OUT_MS of another width than its schedule');
    body.write(ours, d, ours.length, 'latin1');
  }
  if (dueAlready) {
    const plain: PreparedMessage[] = records.map(({ pos, shape }, i) =>
      preparedFrom(body, pos, shape, body.toString('utf8', shape.propertiesStart, ownEnd[i]!)),
    );
    return { timers: undefined, deliverMs, plain: batchOf(topic, queueId, plain) };
  }
  return { timers: { topic: TIMER_TOPIC, queueId: 0, records, body }, deliverMs, plain: undefined };
}

/**
 * The schedule among the properties in body[start, end): what decodeProperties would give
 * deliverTimeOf (the last of a repeated name wins), found in one pass over the bytes.
 * INVALID_MESSAGE for a property only the broker writes.
 */
function readSchedule(body: Buffer, start: number, end: number, s: Schedule): void {
  s.deliverFrom = s.delayFrom = s.levelFrom = -1;
  let name = start;
  let sep = -1;
  for (let p = start; p < end; p++) {
    const b = body[p]!;
    if (b === NAME_VALUE && sep < 0) sep = p;
    else if (b === PROPERTY) {
      const first = body[name];
      if (sep > name && (first === R || first === T || first === D)) {
        const len = sep - name;
        if (len === DELIVER_MS.length && DELIVER_MS.compare(body, name, sep) === 0) {
          s.deliverFrom = sep + 1;
          s.deliverTo = p;
        } else if (len === DELAY_SEC.length && DELAY_SEC.compare(body, name, sep) === 0) {
          s.delayFrom = sep + 1;
          s.delayTo = p;
        } else if (len === LEVEL.length && LEVEL.compare(body, name, sep) === 0) {
          s.levelFrom = sep + 1;
          s.levelTo = p;
        } else {
          for (const internal of INTERNAL) {
            if (len === internal.length && internal.compare(body, name, sep) === 0) {
              throw new CirrusError('INVALID_MESSAGE', `property ${internal.toString('latin1')} is the broker's own on a scheduled message`);
            }
          }
        }
      }
      name = p + 1;
      sep = -1;
    }
  }
}

/** The due time the schedule names; deliverTimeOf decides (and words the INVALID_DELAY) whenever the fast reading is not plainly valid. */
function dueTime(body: Buffer, s: Schedule, now: number, maxDelayMs: number): number | undefined {
  let at = Number.NaN;
  if (s.deliverFrom >= 0) at = readDigits(body, s.deliverFrom, s.deliverTo);
  else if (s.delayFrom >= 0) at = now + readDigits(body, s.delayFrom, s.delayTo) * 1000;
  else if (s.levelFrom >= 0) at = now + (delayLevelMs(readDigits(body, s.levelFrom, s.levelTo)) ?? Number.NaN);
  else return undefined;
  if (at - now <= maxDelayMs) return at;
  const text = (from: number, to: number) => (from >= 0 ? body.toString('latin1', from, to) : undefined);
  return deliverTimeOf(
    { [C.TIMER_DELIVER_MS]: text(s.deliverFrom, s.deliverTo), [C.TIMER_DELAY_SEC]: text(s.delayFrom, s.delayTo), [C.DELAY]: text(s.levelFrom, s.levelTo) },
    now,
    maxDelayMs,
  );
}

/** The number 1 to 16 ASCII digits spell; NaN for anything else. */
function readDigits(body: Buffer, from: number, to: number): number {
  if (to - from < 1 || to - from > 16) return Number.NaN;
  let v = 0;
  for (let p = from; p < to; p++) {
    const b = body[p]!;
    if (b < DIGIT_0 || b > DIGIT_9) return Number.NaN;
    v = v * 10 + b - DIGIT_0;
  }
  return v;
}

function forged(index: number, what: string): CirrusError {
  return new CirrusError('INVALID_MESSAGE', `record ${index} of a timer-form batch ${what}`);
}
