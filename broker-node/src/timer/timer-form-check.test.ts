import { describe, expect, it } from 'vitest';
import {
  decodeProperties,
  decodeRecords,
  decodeSendBatch,
  encodeSendBatch,
  encodeTimerBatch,
  type Message,
  MessageConst,
  type PreparedMessage,
  prepareMessage,
  type SendBatch,
  silentLogger,
  TIMER_TOPIC,
  timerSuffixHead,
} from '@cirrusmq/client/protocol';
import { useStoreFixture } from '../testing/store-fixture';
import { checkTimerForm } from './timer-form-check';
import { TimerMessageStore } from './timer-message-store';
import { putMessagesWithTimers } from './timer-put';
import { divertTimers } from './timer-record';

const fx = useStoreFixture({ commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1024, flushIntervalMs: 10, preallocateSegments: false });

const T0 = 1_800_000_000_000;
const MAX_DELAY = 40 * 86_400_000;

const messages: Message[] = [
  { topic: 'T', body: 'at', deliverAt: T0 + 1_500, tags: 'TagA', keys: ['k1', 'k2'], properties: { a: 'b', ü: 'ünïcödé' } },
  { topic: 'T', body: 'sec', delaySeconds: 2 },
  { topic: 'T', body: 'level', delayTimeLevel: 3 },
];

function prepared(list: Message[] = messages, now = T0): PreparedMessage[] {
  return list.map((m) => prepareMessage(m, 4096, now));
}

/** The records region of an encoded batch (after the header and its topic). */
function recordsOf(batch: SendBatch): Buffer {
  return batch.body.subarray(batch.records[0]!.pos);
}

/** The first record's properties (records of a send batch are not stamped yet: decodeRecords would refuse them). */
function firstProps(batch: SendBatch): Record<string, string> {
  const { shape } = batch.records[0]!;
  return decodeProperties(batch.body.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength));
}

/** A batch in the timer form whose records carry `props` (own properties) and the suffix as given. */
function forgedBatch(props: string, suffix: string, topic = 'T', queueId = 0): SendBatch {
  const ok = prepareMessage({ topic: 'T', body: 'x' }, 4096, T0);
  const all = props + suffix;
  const body = encodeSendBatch(TIMER_TOPIC, 0, [{ ...ok, properties: all, propertiesLength: Buffer.byteLength(all) }]);
  // The same records under a header naming the real topic and queue.
  const header = Buffer.alloc(16 + topic.length);
  body.copy(header, 0, 0, 16);
  header.writeUInt16BE(topic.length, 6);
  header.writeInt32BE(queueId, 8);
  header.write(topic, 16, 'latin1');
  return decodeSendBatch(Buffer.concat([header, body.subarray(16 + TIMER_TOPIC.length)]), 10);
}

function setup() {
  const store = fx.open();
  const clock = { now: T0 };
  const timer = new TimerMessageStore(
    store,
    { storeDir: fx.dir, precisionMs: 100, wheelSpanMs: 3_600_000, maxDelayMs: MAX_DELAY, now: () => clock.now },
    silentLogger,
  );
  return { store, timer, clock };
}

describe('timer form (codec/timer-batch.ts) and its check on the broker', () => {
  it('is byte for byte the records the broker makes of the plain form', () => {
    const p = prepared();
    const plain = divertTimers(decodeSendBatch(encodeSendBatch('T', 3, p), 10), T0, MAX_DELAY)!;
    const timerForm = decodeSendBatch(encodeTimerBatch('T', 3, p, T0)!, 10);
    expect(timerForm.timerForm).toBe(true);
    expect(timerForm.topic).toBe('T');
    expect(timerForm.queueId).toBe(3);
    expect(recordsOf(timerForm).equals(recordsOf(plain.timers!))).toBe(true);
    // Checked as it came: nothing rewritten, the due times the plain form's.
    const before = Buffer.from(timerForm.body);
    const checked = checkTimerForm(timerForm, T0, MAX_DELAY);
    expect(checked.deliverMs).toEqual(plain.deliverMs);
    expect(checked.timers!.topic).toBe(TIMER_TOPIC);
    expect(timerForm.body.equals(before)).toBe(true);
  });

  it('is not used for a batch with a message due now or unscheduled (the plain form then)', () => {
    expect(encodeTimerBatch('T', 0, prepared([...messages, { topic: 'T', body: 'plain' }]), T0)).toBeUndefined();
    expect(encodeTimerBatch('T', 0, prepared([{ topic: 'T', body: 'past', deliverAt: T0 - 1 }]), T0)).toBeUndefined();
  });

  it("counts a relative delay from the broker's clock: the sender's TIMER_OUT_MS is overwritten", () => {
    const p = prepared([{ topic: 'T', body: 'sec', delaySeconds: 2 }]);
    const batch = decodeSendBatch(encodeTimerBatch('T', 0, p, T0 - 777)!, 10);
    const checked = checkTimerForm(batch, T0, MAX_DELAY);
    expect(checked.deliverMs).toEqual([T0 + 2_000]);
    expect(firstProps(checked.timers!)[MessageConst.TIMER_OUT_MS]).toBe(String(T0 + 2_000));
    // An absolute time is its own: a forged TIMER_OUT_MS is replaced by it.
    const forged = forgedBatch(`TIMER_DELIVER_MS\u0001${T0 + 5_000}\u0002`, `${timerSuffixHead('T', 0)}${T0 + 1}\u0002`);
    expect(checkTimerForm(forged, T0, MAX_DELAY).deliverMs).toEqual([T0 + 5_000]);
    expect(firstProps(forged)[MessageConst.TIMER_OUT_MS]).toBe(String(T0 + 5_000));
  });

  it('refuses what the broker would not have made: another target, a broker-only property, no schedule, a bad one', () => {
    const at = `TIMER_DELIVER_MS\u0001${T0 + 5_000}\u0002`;
    const suffix = `${timerSuffixHead('T', 0)}${T0 + 5_000}\u0002`;
    const check = (b: SendBatch) => () => checkTimerForm(b, T0, MAX_DELAY);
    // REAL_TOPIC / REAL_QID other than the batch's (whose topic and queue the broker checked).
    expect(check(forgedBatch(at, `${timerSuffixHead('Other', 0)}${T0 + 5_000}\u0002`))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    expect(check(forgedBatch(at, suffix, 'T', 1))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    // No suffix at all, or one not closing the properties.
    expect(check(forgedBatch(at, ''))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    expect(check(forgedBatch(at, `${suffix}x\u0001y\u0002`))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    // A cancel, a roll count or a second target among its own properties.
    for (const own of ['TIMER_DEL_UNIQKEY\u0001AB\u0002', 'TIMER_ROLL_TIMES\u00013\u0002', 'REAL_TOPIC\u0001Other\u0002', 'TIMER_OUT_MS\u00011\u0002']) {
      expect(check(forgedBatch(own + at, suffix))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    }
    expect(check(forgedBatch('a\u0001b\u0002', suffix))).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    for (const bad of [
      'DELAY\u000119\u0002',
      'TIMER_DELAY_SEC\u0001-1\u0002',
      'TIMER_DELIVER_MS\u0001soon\u0002',
      `TIMER_DELIVER_MS\u0001${T0 + MAX_DELAY + 1}\u0002`,
    ]) {
      expect(check(forgedBatch(bad, suffix))).toThrow(expect.objectContaining({ code: 'INVALID_DELAY' }));
    }
    // Mixing the forms in one batch is malformed.
    const timerBody = encodeTimerBatch('T', 0, prepared(messages.slice(0, 1)), T0)!;
    const plainBody = encodeSendBatch('T', 0, prepared([{ topic: 'T', body: 'p' }]));
    const mixed = Buffer.concat([plainBody.subarray(0, 16 + 1), plainBody.subarray(17), timerBody.subarray(17)]);
    mixed.writeUInt32BE(2, 12);
    expect(() => decodeSendBatch(mixed, 10)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('stores a timer-form batch under the timer topic without reading it back, and one due already in its queue', async () => {
    const ctx = setup();
    await ctx.timer.recover();
    const p = prepared();
    const put = await putMessagesWithTimers(ctx.store, ctx.timer, decodeSendBatch(encodeTimerBatch('T', 0, p, T0)!, 10), undefined, T0);
    expect(put.count).toBe(3);
    expect(ctx.store.getMaxOffsetInQueue(TIMER_TOPIC, 0)).toBe(3);
    await ctx.timer.pass();
    expect(ctx.timer.counters.handedOff).toBe(3);
    expect(ctx.timer.pendingCount()).toBe(3);
    // Sent in the timer form, due already by the broker's clock: stored in its queue at once, as the plain form would be.
    const late = prepared([{ topic: 'T', body: 'late', deliverAt: T0 + 50 }]);
    await putMessagesWithTimers(ctx.store, ctx.timer, decodeSendBatch(encodeTimerBatch('T', 0, late, T0)!, 10), undefined, T0 + 60);
    const inQueue = decodeRecords((await ctx.store.getMessage('T', 0, 0, 10)).records);
    expect(inQueue.map((m) => [m.body.toString(), m.messageId])).toEqual([['late', late[0]!.messageId]]);
    expect(inQueue[0]!.properties[MessageConst.REAL_TOPIC]).toBeUndefined();
    ctx.clock.now = T0 + 15_000;
    await ctx.timer.pass();
    const fired = decodeRecords((await ctx.store.getMessage('T', 0, 0, 10)).records);
    expect(fired.map((m) => m.body.toString())).toEqual(['late', 'at', 'sec', 'level']);
    expect(fired[1]!.properties).toMatchObject({ a: 'b', ü: 'ünïcödé', [MessageConst.TIMER_OUT_MS]: String(T0 + 1_500) });
    await ctx.timer.close();
  });
});
