/**
 * Timer messages on the put path and at firing (RocketMQ's HookUtils.transformTimerMessage
 * and TimerMessageStore.convert): a record with a schedule (TIMER_DELIVER_MS, TIMER_DELAY_SEC
 * or DELAY) due later than now is stored under the system topic rmq_sys_wheel_timer, queue 0,
 * with its queue in REAL_TOPIC / REAL_QID and its due time in TIMER_OUT_MS, so the body lives
 * once in the CommitLog with the store's durability, tiering and restore. When it fires it is
 * appended again to its real queue: same body, id (UNIQ_KEY) and born time, TIMER_OUT_MS kept,
 * the schedule's own properties dropped (a resend or a redrive of it is not delayed again).
 */
import {
  CirrusError,
  decodeProperties,
  hasPropertyPrefix,
  delayLevelMs,
  encodeProperties,
  encodeSendBatch,
  Field,
  MessageConst,
  type PreparedMessage,
  type RecordShape,
  readRecordShape,
  type SendBatch,
  TIMER_TOPIC,
} from '@cirrusmq/client/protocol';

export { TIMER_TOPIC };

const C = MessageConst;

/** The due time (epoch ms) a record's schedule names, undefined without one; INVALID_DELAY for a bad one or one past the horizon. */
export function deliverTimeOf(props: Record<string, string | undefined>, now: number, maxDelayMs: number): number | undefined {
  let at: number | undefined;
  const deliverMs = props[C.TIMER_DELIVER_MS];
  const delaySec = props[C.TIMER_DELAY_SEC];
  const level = props[C.DELAY];
  if (deliverMs !== undefined) at = parseNonNegative(C.TIMER_DELIVER_MS, deliverMs);
  else if (delaySec !== undefined) at = now + parseNonNegative(C.TIMER_DELAY_SEC, delaySec) * 1000;
  else if (level !== undefined) {
    const ms = delayLevelMs(Number(level));
    if (ms === undefined || !/^\d+$/.test(level)) throw new CirrusError('INVALID_DELAY', `DELAY must be a level from 1 to 18, got "${level}"`);
    at = now + ms;
  } else return undefined;
  if (at - now > maxDelayMs) {
    throw new CirrusError('INVALID_DELAY', `delivery time ${at} is more than ${maxDelayMs} ms ahead (the broker's horizon, CIRRUSMQ_TIMER_MAX_DELAY_MS)`);
  }
  return at;
}

function parseNonNegative(name: string, raw: string): number {
  if (!/^\d{1,16}$/.test(raw)) throw new CirrusError('INVALID_DELAY', `${name} must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

/** A record of a send batch (or of a read) as a PreparedMessage with other properties: its body bytes as stored (still deflated). */
export function preparedFrom(buf: Buffer, pos: number, shape: RecordShape, properties: string): PreparedMessage {
  return {
    messageId: '',
    body: buf.subarray(pos + Field.BODY, pos + Field.BODY + shape.bodyLength),
    sysFlag: buf.readInt32BE(pos + Field.SYSFLAG),
    bornTimestamp: Number(buf.readBigInt64BE(pos + Field.BORNTIMESTAMP)),
    properties,
    propertiesLength: Buffer.byteLength(properties, 'utf8'),
  };
}

export function batchOf(topic: string, queueId: number, messages: PreparedMessage[]): SendBatch {
  const body = encodeSendBatch(topic, queueId, messages);
  // Encoded here, so not parsed back with decodeSendBatch's checks (a topic compare per record): only the shapes are read.
  const records: SendBatch['records'] = new Array(messages.length);
  let pos = SEND_BATCH_HEADER + topic.length;
  for (let i = 0; i < messages.length; i++) {
    const shape = readRecordShape(body, pos, body.length);
    if (!shape) throw new CirrusError('INTERNAL', `record ${i} of a batch just encoded is malformed`);
    records[i] = { pos, shape };
    pos += shape.size;
  }
  return { topic, queueId, records, body };
}

/** The send batch's fixed header before its topic (codec/send-batch.ts). */
const SEND_BATCH_HEADER = 16;

export function propertiesString(buf: Buffer, shape: RecordShape): string {
  return buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
}

/** The properties deliverTimeOf reads, as the prefixes hasPropertyPrefix looks for. */
const SCHEDULE_NAMES = [C.TIMER_DELIVER_MS, C.TIMER_DELAY_SEC, C.DELAY].map((name) => Buffer.from(`${name}\u0001`, 'latin1'));

/** Whether a record's properties may hold a schedule: a walk of their names, so a plain send pays no property decode. */
function mayHaveSchedule(buf: Buffer, shape: RecordShape): boolean {
  return hasPropertyPrefix(buf, shape.propertiesStart, shape.propertiesStart + shape.propertiesLength, SCHEDULE_NAMES);
}

export interface DivertedBatch {
  /** The records due now or without a schedule, for their own queue (undefined: none). */
  normal: SendBatch | undefined;
  /** The scheduled ones, under TIMER_TOPIC queue 0 (undefined: none). */
  timers: SendBatch | undefined;
  /** The earliest due time among the timers. */
  earliestMs: number;
  /** Each timer's due time, in the order of `timers`' records. */
  deliverMs: number[];
}

/** Properties only the broker writes on a timer record: a send carrying one is refused (a forged cancel, roll or target). */
export const TIMER_INTERNAL_PROPERTIES = [C.REAL_TOPIC, C.REAL_QID, C.TIMER_OUT_MS, C.TIMER_DEL_UNIQKEY, C.TIMER_ROLL_TIMES] as const;

/**
 * Splits a send batch; undefined (the batch goes as it came) when no record is scheduled for
 * later. Throws INVALID_DELAY, storing nothing, when any record's schedule is bad.
 */
export function divertTimers(batch: SendBatch, now: number, maxDelayMs: number): DivertedBatch | undefined {
  const { body, records } = batch;
  let scheduled: { index: number; at: number; props: string }[] | undefined;
  for (let i = 0; i < records.length; i++) {
    const { shape } = records[i]!;
    if (!mayHaveSchedule(body, shape)) continue;
    const props = propertiesString(body, shape);
    const decoded = decodeProperties(props);
    const at = deliverTimeOf(decoded, now, maxDelayMs);
    // Due already (a past deliverAt, a zero delay): a normal put, as RocketMQ does.
    if (at === undefined || at <= now) continue;
    // Would be replayed as a cancel of another message's timer. (REAL_TOPIC, REAL_QID and TIMER_OUT_MS are overridden by the ones appended below.)
    if (decoded[C.TIMER_DEL_UNIQKEY] !== undefined) throw new CirrusError('INVALID_MESSAGE', `property ${C.TIMER_DEL_UNIQKEY} is the broker's own`);
    (scheduled ??= []).push({ index: i, at, props });
  }
  if (!scheduled) return undefined;
  const timers: PreparedMessage[] = [];
  const normal: PreparedMessage[] = [];
  let earliestMs = Number.POSITIVE_INFINITY;
  const deliverMs: number[] = [];
  let next = 0;
  for (let i = 0; i < records.length; i++) {
    const { pos, shape } = records[i]!;
    const s = scheduled[next];
    if (s?.index === i) {
      next++;
      const extra = encodeProperties({ [C.REAL_TOPIC]: batch.topic, [C.REAL_QID]: String(batch.queueId), [C.TIMER_OUT_MS]: String(s.at) });
      timers.push(preparedFrom(body, pos, shape, s.props + extra));
      deliverMs.push(s.at);
      if (s.at < earliestMs) earliestMs = s.at;
    } else normal.push(preparedFrom(body, pos, shape, propertiesString(body, shape)));
  }
  return {
    normal: normal.length > 0 ? batchOf(batch.topic, batch.queueId, normal) : undefined,
    timers: batchOf(TIMER_TOPIC, 0, timers),
    earliestMs,
    deliverMs,
  };
}

/** The parts of a timer record firing and rolling need. */
export interface TimerRecord {
  messageId: string;
  realTopic: string;
  realQueueId: number;
  deliverMs: number;
  /** All its properties (decoded when first asked for: firing needs only the fields above). */
  readonly props: Record<string, string>;
  /** A cancel record: the id it cancels. */
  cancels: string | undefined;
  /** The bytes holding it, from `pos` on (a run of records read together may hold others). */
  buf: Buffer;
  pos: number;
  shape: RecordShape;
}

const WANTED = [C.UNIQ_KEY, C.REAL_TOPIC, C.REAL_QID, C.TIMER_OUT_MS, C.TIMER_DEL_UNIQKEY].map((n) => Buffer.from(n, 'latin1'));
/** Value spans of the WANTED properties in the record being read (-1: absent); reused. */
const valueStart = new Int32Array(WANTED.length);
const valueEnd = new Int32Array(WANTED.length);

class StoredTimerRecord implements TimerRecord {
  private decoded: Record<string, string> | undefined;
  private id: string | undefined;
  constructor(
    /** The UNIQ_KEY value's bytes in buf (idStart < 0: none): made a string only when asked for. */
    private readonly idStart: number,
    private readonly idEnd: number,
    readonly realTopic: string,
    readonly realQueueId: number,
    readonly deliverMs: number,
    readonly cancels: string | undefined,
    readonly buf: Buffer,
    readonly pos: number,
    readonly shape: RecordShape,
  ) {}

  get messageId(): string {
    this.id ??= this.idStart < 0 ? '' : spanText(this.buf, this.idStart, this.idEnd);
    return this.id;
  }

  get props(): Record<string, string> {
    this.decoded ??= decodeProperties(propertiesString(this.buf, this.shape));
    return this.decoded;
  }
}

/**
 * Reads a timer record (at `pos` of `buf`); undefined for anything else. The properties are
 * read as decodeProperties reads them (name to the next 0x01, value to the next 0x02, the last
 * of a name wins) but only the five it needs become strings.
 */
export function readTimerRecord(buf: Buffer, pos = 0): TimerRecord | undefined {
  const shape = readRecordShape(buf, pos, buf.length);
  if (!shape) return undefined;
  valueStart.fill(-1);
  const end = shape.propertiesStart + shape.propertiesLength;
  for (let start = shape.propertiesStart; start < end; ) {
    let sep = start;
    while (sep < end && buf[sep] !== 0x01) sep++;
    if (sep === end) break;
    let stop = sep + 1;
    while (stop < end && buf[stop] !== 0x02) stop++;
    const length = sep - start;
    for (let k = 0; k < WANTED.length; k++) {
      const name = WANTED[k]!;
      if (name.length !== length) continue;
      let i = 0;
      while (i < length && name[i] === buf[start + i]) i++;
      if (i === length) {
        valueStart[k] = sep + 1;
        valueEnd[k] = stop;
        break;
      }
    }
    start = stop + 1;
  }
  const out = wantedNumber(buf, 3);
  const realTopic = wantedTopic(buf);
  if (!Number.isFinite(out) || realTopic === undefined) return undefined;
  const qid = valueStart[2]! < 0 ? 0 : wantedNumber(buf, 2);
  return new StoredTimerRecord(valueStart[0]!, valueEnd[0]!, realTopic, qid, out, wantedValue(buf, 4), buf, pos, shape);
}

/** Number() of WANTED[k]'s value (NaN when absent), without a string for plain digits. */
function wantedNumber(buf: Buffer, k: number): number {
  const start = valueStart[k]!;
  const stop = valueEnd[k]!;
  if (start >= 0 && stop > start && stop - start <= 15) {
    let n = 0;
    let i = start;
    for (; i < stop; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === stop) return n;
  }
  return Number(wantedValue(buf, k));
}

/** The last REAL_TOPIC read, as text and bytes: a burst's timers mostly share one, made a string once. */
let lastTopic = '';
let lastTopicBytes = Buffer.alloc(0);

function wantedTopic(buf: Buffer): string | undefined {
  const start = valueStart[1]!;
  if (start < 0) return undefined;
  const stop = valueEnd[1]!;
  if (stop - start === lastTopicBytes.length) {
    let i = 0;
    while (i < lastTopicBytes.length && lastTopicBytes[i] === buf[start + i]) i++;
    if (i === lastTopicBytes.length) return lastTopic;
  }
  lastTopic = wantedValue(buf, 1)!;
  lastTopicBytes = Buffer.from(buf.subarray(start, stop));
  return lastTopic;
}

/** The value of WANTED[k] as decodeProperties would give it (UTF-8), undefined when absent. */
function wantedValue(buf: Buffer, k: number): string | undefined {
  const start = valueStart[k]!;
  return start < 0 ? undefined : spanText(buf, start, valueEnd[k]!);
}

function spanText(buf: Buffer, start: number, stop: number): string {
  for (let i = start; i < stop; i++) if (buf[i]! > 0x7f) return buf.toString('utf8', start, stop);
  return buf.toString('latin1', start, stop);
}

/** The record delivered to its real queue. */
export function deliveredMessage(r: TimerRecord, pos = r.pos): PreparedMessage {
  // encodeProperties of the properties without the dropped ones, without copying the object and deleting from it.
  let props = '';
  for (const name in r.props) if (!DROPPED_AT_DELIVERY.has(name)) props += `${name}\u0001${r.props[name]}\u0002`;
  return { ...preparedFrom(r.buf, pos, r.shape, props), messageId: r.messageId };
}

const DROPPED_AT_DELIVERY = new Set<string>([C.REAL_TOPIC, C.REAL_QID, C.TIMER_DELIVER_MS, C.TIMER_DELAY_SEC, C.DELAY, C.TIMER_ROLL_TIMES]);

/** The record appended again under the timer topic when its slot was only a stop on the way (rolled forward). */
export function rolledMessage(r: TimerRecord, pos = r.pos): PreparedMessage {
  const props = { ...r.props, [C.TIMER_ROLL_TIMES]: String(Number(r.props[C.TIMER_ROLL_TIMES] ?? 0) + 1) };
  return { ...preparedFrom(r.buf, pos, r.shape, encodeProperties(props)), messageId: r.messageId };
}

/** A cancel record: replayed into the timer log as a delete unit, so a cancel outlives a crash. */
export function cancelMessage(messageId: string, realTopic: string, deliverMs: number, now: number): PreparedMessage {
  const properties = encodeProperties({ [C.TIMER_DEL_UNIQKEY]: messageId, [C.REAL_TOPIC]: realTopic, [C.TIMER_OUT_MS]: String(deliverMs) });
  const body = Buffer.from(messageId, 'utf8');
  return { messageId: '', body, sysFlag: 0, bornTimestamp: now, properties, propertiesLength: Buffer.byteLength(properties, 'utf8') };
}
