/**
 * The timer form of a send batch: scheduled messages encoded as the broker stores them
 * (RocketMQ's HookUtils.transformTimerMessage done by the sender), so the broker checks them
 * and writes them without a property rewrite and a re-encode. The header names the real topic
 * and queue (the broker checks and routes on them as for any send); each record is under
 * TIMER_TOPIC with its own properties followed by REAL_TOPIC, REAL_QID and TIMER_OUT_MS:
 * byte for byte the record the broker makes from the plain form.
 *
 * The broker trusts none of it: it recomputes every due time from the schedule (a relative
 * delay counts from its own clock), refuses a record it would not have made, and takes a due
 * time already past as a plain send. An older broker refuses the form (records under another
 * topic than the batch's), which is why the SDK and broker ship together.
 */
import { DELAY_LEVELS_MS, MessageConst } from '../message.js';
import { CirrusError } from '../errors.js';
import { MAX_PROPERTIES_LENGTH, recordSize, writeRecord } from './record.js';
import { type PreparedMessage, preparedBodyLength, SEND_BATCH_MAGIC, SEND_BATCH_VERSION, TIMER_TOPIC } from './send-batch.js';

const NAME_VALUE = '\u0001';
const PROPERTY = '\u0002';
const HEADER = 16;
const OUT_HEAD = `${MessageConst.TIMER_OUT_MS}${NAME_VALUE}`;

/**
 * The due time (epoch ms) the schedule in encoded properties names, measured from `now` for
 * a relative one; undefined without a schedule or with one that is not well formed (left to
 * the broker, which answers INVALID_DELAY).
 */
export function scheduledTime(properties: string, now: number): number | undefined {
  const at = digitsAfter(properties, DELIVER_HEAD);
  if (at !== undefined) return Number.isNaN(at) ? undefined : at;
  const sec = digitsAfter(properties, DELAY_SEC_HEAD);
  if (sec !== undefined) return Number.isNaN(sec) ? undefined : now + sec * 1000;
  const level = digitsAfter(properties, LEVEL_HEAD);
  const ms = level === undefined ? undefined : DELAY_LEVELS_MS[level - 1];
  return ms === undefined ? undefined : now + ms;
}

const DELIVER_HEAD = MessageConst.TIMER_DELIVER_MS + NAME_VALUE;
const DELAY_SEC_HEAD = MessageConst.TIMER_DELAY_SEC + NAME_VALUE;
const LEVEL_HEAD = MessageConst.DELAY + NAME_VALUE;

/** The number property `head` (name and NAME_VALUE) holds: undefined without it, NaN when not 1 to 16 digits. */
function digitsAfter(properties: string, head: string): number | undefined {
  let at = properties.startsWith(head) ? 0 : properties.indexOf(PROPERTY + head);
  if (at < 0) return undefined;
  if (at > 0 || properties.charCodeAt(0) === 2) at++;
  let v = 0;
  let p = at + head.length;
  for (; p < properties.length; p++) {
    const c = properties.charCodeAt(p);
    if (c === 2) break;
    if (c < 48 || c > 57) return Number.NaN;
    v = v * 10 + c - 48;
  }
  const digits = p - at - head.length;
  return digits >= 1 && digits <= 16 ? v : Number.NaN;
}

/** What follows a timer record's own properties: REAL_TOPIC, REAL_QID, then TIMER_OUT_MS's head (its digits and a PROPERTY close it). */
export function timerSuffixHead(topic: string, queueId: number): string {
  return `${MessageConst.REAL_TOPIC}${NAME_VALUE}${topic}${PROPERTY}${MessageConst.REAL_QID}${NAME_VALUE}${queueId}${PROPERTY}${OUT_HEAD}`;
}

/**
 * The batch in timer form for queue `queueId` of `topic`, or undefined when any message is
 * not scheduled for later than `now` (the plain form then: the broker sorts such a batch).
 */
export function encodeTimerBatch(topic: string, queueId: number, messages: readonly PreparedMessage[], now: number): Buffer | undefined {
  const n = messages.length;
  const head = Buffer.from(timerSuffixHead(topic, queueId), 'latin1');
  const due: number[] = new Array(n);
  let size = HEADER + topic.length;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    const at = scheduledTime(m.properties, now);
    if (at === undefined || at <= now) return undefined;
    due[i] = at;
    size += recordSize(preparedBodyLength(m), TIMER_TOPIC.length, m.propertiesLength + suffixLength(head, at));
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(SEND_BATCH_MAGIC, 0);
  buf.writeUInt16BE(SEND_BATCH_VERSION, 4);
  buf.writeUInt16BE(topic.length, 6);
  buf.writeInt32BE(queueId, 8);
  buf.writeUInt32BE(n, 12);
  buf.write(topic, HEADER, topic.length, 'latin1');
  let pos = HEADER + topic.length;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    // The record with its own properties, then the suffix after them (properties end a record): no concatenated string.
    const own = writeRecord(buf, pos, 0, m.sysFlag, m.bornTimestamp, 0, m.body, preparedBodyLength(m), TIMER_TOPIC, m.properties, m.propertiesLength);
    const extra = suffixLength(head, due[i]!);
    if (m.propertiesLength + extra > MAX_PROPERTIES_LENGTH)
      throw new CirrusError('INVALID_MESSAGE', `encoded properties exceed ${MAX_PROPERTIES_LENGTH} bytes`);
    let p = pos + own;
    p += head.copy(buf, p);
    p += buf.write(String(due[i]), p, 'latin1');
    buf[p] = 2;
    buf.writeInt32BE(own + extra, pos);
    buf.writeUInt16BE(m.propertiesLength + extra, pos + own - m.propertiesLength - 2);
    pos += own + extra;
  }
  return buf;
}

function suffixLength(head: Buffer, at: number): number {
  return head.length + String(at).length + 1;
}
