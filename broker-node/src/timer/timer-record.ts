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

// DELAY (RocketMQ 4's level) and TIMER_DELAY_SEC both hold "DELAY"; TIMER_DELIVER_MS holds "DELIVER_MS".
const DELAY_BYTES = Buffer.from('DELAY');
const DELIVER_BYTES = Buffer.from('DELIVER_MS');

/** Whether a record's properties may hold a schedule: a byte search, so a plain send pays no property decode. */
function mayHaveSchedule(buf: Buffer, shape: RecordShape): boolean {
  if (shape.propertiesLength < DELAY_BYTES.length) return false;
  const props = buf.subarray(shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
  return props.indexOf(DELAY_BYTES) >= 0 || props.indexOf(DELIVER_BYTES) >= 0;
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
  // One search of the whole batch: a plain batch (the usual case) is done here.
  if (body.indexOf(DELAY_BYTES) < 0 && body.indexOf(DELIVER_BYTES) < 0) return undefined;
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
  props: Record<string, string>;
  /** A cancel record: the id it cancels. */
  cancels: string | undefined;
  buf: Buffer;
  shape: RecordShape;
}

/** Reads a timer record (at `pos` of `buf`); undefined for anything else. */
export function readTimerRecord(buf: Buffer, pos = 0): TimerRecord | undefined {
  const shape = readRecordShape(buf, pos, buf.length);
  if (!shape) return undefined;
  const props = decodeProperties(propertiesString(buf, shape));
  const out = Number(props[C.TIMER_OUT_MS]);
  const realTopic = props[C.REAL_TOPIC];
  if (!Number.isFinite(out) || realTopic === undefined) return undefined;
  return {
    messageId: props[C.UNIQ_KEY] ?? '',
    realTopic,
    realQueueId: Number(props[C.REAL_QID] ?? 0),
    deliverMs: out,
    props,
    cancels: props[C.TIMER_DEL_UNIQKEY],
    buf,
    shape,
  };
}

/** The record delivered to its real queue. */
export function deliveredMessage(r: TimerRecord, pos = 0): PreparedMessage {
  // encodeProperties of the properties without the dropped ones, without copying the object and deleting from it.
  let props = '';
  for (const name in r.props) if (!DROPPED_AT_DELIVERY.has(name)) props += `${name}\u0001${r.props[name]}\u0002`;
  return { ...preparedFrom(r.buf, pos, r.shape, props), messageId: r.messageId };
}

const DROPPED_AT_DELIVERY = new Set<string>([C.REAL_TOPIC, C.REAL_QID, C.TIMER_DELIVER_MS, C.TIMER_DELAY_SEC, C.DELAY, C.TIMER_ROLL_TIMES]);

/** The record appended again under the timer topic when its slot was only a stop on the way (rolled forward). */
export function rolledMessage(r: TimerRecord, pos = 0): PreparedMessage {
  const props = { ...r.props, [C.TIMER_ROLL_TIMES]: String(Number(r.props[C.TIMER_ROLL_TIMES] ?? 0) + 1) };
  return { ...preparedFrom(r.buf, pos, r.shape, encodeProperties(props)), messageId: r.messageId };
}

/** A cancel record: replayed into the timer log as a delete unit, so a cancel outlives a crash. */
export function cancelMessage(messageId: string, realTopic: string, deliverMs: number, now: number): PreparedMessage {
  const properties = encodeProperties({ [C.TIMER_DEL_UNIQKEY]: messageId, [C.REAL_TOPIC]: realTopic, [C.TIMER_OUT_MS]: String(deliverMs) });
  const body = Buffer.from(messageId, 'utf8');
  return { messageId: '', body, sysFlag: 0, bornTimestamp: now, properties, propertiesLength: Buffer.byteLength(properties, 'utf8') };
}
