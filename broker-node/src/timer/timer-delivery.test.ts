import { describe, expect, it } from 'vitest';
import {
  decodeSendBatch,
  encodeSendBatch,
  encodeTimerBatch,
  Field,
  type Message,
  MessageConst,
  type PreparedMessage,
  prepareMessage,
  TIMER_TOPIC,
} from '@cirrusmq/client/protocol';
import { DeliveryBatch } from './timer-delivery';
import { deliveredMessage, divertTimers, readTimerRecord, rolledMessage, type TimerRecord } from './timer-record';

const NOW = 1_800_000_000_000;
const HORIZON = 40 * 86_400_000;
const C = MessageConst;

/** The records of a send batch as the CommitLog holds them: the broker's fields stamped (not zero). */
function stored(body: Buffer, seed: number): Buffer[] {
  const batch = decodeSendBatch(body, 10_000);
  return batch.records.map(({ pos, shape }, i) => {
    const rec = Buffer.from(body.subarray(pos, pos + shape.size));
    rec.writeInt32BE(0x1234567 + seed, Field.CRC);
    rec.writeInt32BE(7, Field.FLAG);
    rec.writeBigInt64BE(BigInt(1000 + i), Field.QUEUEOFFSET);
    rec.writeBigInt64BE(BigInt(123_456_789 + seed * 1000 + i), Field.PHYSICALOFFSET);
    rec.writeBigInt64BE(BigInt(NOW + 5), Field.STORETIMESTAMP);
    rec.writeInt32BE(3, Field.RECONSUMETIMES);
    return rec;
  });
}

/** What firing appended before byte surgery: deliveredMessage encoded by encodeSendBatch. */
function reference(records: TimerRecord[]): Buffer {
  const r = records[0]!;
  return encodeSendBatch(
    r.realTopic,
    r.realQueueId,
    records.map((x) => deliveredMessage(x)),
  );
}

function surgery(records: TimerRecord[], capacity: number): Buffer {
  const r = records[0]!;
  const b = new DeliveryBatch(r.realTopic, r.realQueueId, capacity);
  for (const x of records) b.add(x);
  const batch = b.batch();
  // A valid send batch whose parsed shapes are the ones the builder reported.
  expect(decodeSendBatch(batch.body, 10_000).records).toEqual(batch.records);
  return batch.body;
}

/** Timer records of `messages` (all scheduled) the two ways the put path stores them: diverted from a plain batch, and the SDK's timer form. */
function timerRecords(topic: string, queueId: number, messages: Message[], seed: number): TimerRecord[][] {
  const prepared = messages.map((m) => prepareMessage(m, 256, NOW, true));
  const diverted = divertTimers(decodeSendBatch(encodeSendBatch(topic, queueId, prepared), 10_000), NOW, HORIZON)!;
  expect(diverted.timers!.records.length).toBe(messages.length);
  const timerForm = encodeTimerBatch(topic, queueId, prepared, NOW)!;
  return [diverted.timers!.body, timerForm].map((body) => stored(body, seed).map((rec) => readTimerRecord(rec)!));
}

/** A timer record with `properties` as they are (shapes no SDK writes, a raw client might). */
function rawTimerRecord(properties: string, body: Buffer | string = 'raw body'): TimerRecord {
  const r = readTimerRecord(rawRecord(properties, body));
  expect(r).toBeDefined();
  return r!;
}

function rawRecord(properties: string, body: Buffer | string = 'raw body'): Buffer {
  const m: PreparedMessage = {
    messageId: '',
    body: typeof body === 'string' ? Buffer.from(body) : body,
    sysFlag: 0,
    bornTimestamp: NOW - 9,
    properties,
    propertiesLength: Buffer.byteLength(properties, 'utf8'),
  };
  return stored(encodeSendBatch(TIMER_TOPIC, 0, [m]), 1)[0]!;
}

describe('delivered records by byte surgery', () => {
  it('are byte-identical to deliveredMessage + encodeSendBatch over the shapes the SDK sends', () => {
    const big = 'é日本'.repeat(400);
    const shapes: Message[] = [];
    const schedules = [{ deliverAt: NOW + 5000 }, { delaySeconds: 30 }, { delayTimeLevel: 3 }, { delayTimeLevel: 18 }];
    let n = 0;
    for (const schedule of schedules) {
      for (const tags of [undefined, 'TagA', 'tag-ü']) {
        for (const keys of [undefined, ['k1'], ['order-1', 'order-2', 'ключ']]) {
          for (const body of ['x', 'y'.repeat(1000), big, Buffer.from([0, 1, 2, 255, 254])]) {
            const properties: Record<string, string> | undefined =
              n % 3 === 0 ? undefined : n % 3 === 1 ? { a: '1', userKey: 'v' } : { 'nön-ascii': 'värde', b: '' };
            shapes.push({ topic: 'Real', body, tags, keys, properties, ...schedule });
            n++;
          }
        }
      }
    }
    let compressed = 0;
    for (const [i, queueId] of [0, 3, 17].entries()) {
      for (const records of timerRecords(
        `Real${'T'.repeat(i * 20)}`,
        queueId,
        shapes.map((s) => ({ ...s, topic: `Real${'T'.repeat(i * 20)}` })),
        i,
      )) {
        compressed += records.filter((r) => r.buf.readInt32BE(Field.SYSFLAG) !== 0).length;
        const want = reference(records);
        // A buffer too small at first: the builder grows it.
        expect(surgery(records, 64).equals(want)).toBe(true);
        expect(surgery(records, 1 << 20).equals(want)).toBe(true);
      }
    }
    expect(compressed).toBeGreaterThan(0);
  });

  it('are byte-identical for rolled records (TIMER_ROLL_TIMES added, once and twice)', () => {
    for (const records of timerRecords('Rolled', 2, [{ topic: 'Rolled', body: 'r', tags: 'T', keys: ['k'], deliverAt: NOW + 99_000 }], 4)) {
      let r = records[0]!;
      for (let roll = 0; roll < 2; roll++) {
        r = readTimerRecord(stored(encodeSendBatch(TIMER_TOPIC, 0, [rolledMessage(r)]), roll)[0]!)!;
        expect(r.props[C.TIMER_ROLL_TIMES]).toBe(String(roll + 1));
        expect(surgery([r], 256).equals(reference([r]))).toBe(true);
      }
    }
  });

  it('are byte-identical for properties the general path reorders or rewrites (it builds those)', () => {
    const timer = `${C.REAL_TOPIC}\u0001Odd\u0002${C.REAL_QID}\u00011\u0002${C.TIMER_OUT_MS}\u0001${NOW + 1}\u0002`;
    const cases = [
      `a\u00011\u0002b\u00012\u0002a\u00013\u0002${timer}`, // a repeated name: first place, last value
      `zeta\u0001z\u000242\u0001answer\u0002${timer}`, // an integer-like name goes first in an object
      `${timer}${C.UNIQ_KEY}\u0001ID1\u0002name\u0001värde\u0002`, // non-ASCII value
      `${timer}tail\u0001no-end`, // no trailing separator
      `${timer}k\u0001v\u0002${C.DELAY}\u00013`, // a dropped one last, without its separator
      `${C.DELAY}\u00013\u0002${timer}${C.UNIQ_KEY}\u0001ID2\u0002`, // a dropped one first
      `${timer}junk-without-separator`, // dropped by decodeProperties
      `\u0001empty-name\u0002${timer}v\u0001a\u0001b\u0002`, // empty name, 0x01 inside a value
      `${timer}${C.DELAY}\u00013\u0002${C.TIMER_DELAY_SEC}\u00015\u0002${C.TIMER_ROLL_TIMES}\u00012\u0002${C.TIMER_DELIVER_MS}\u00019\u0002`,
      timer,
    ];
    for (const props of cases) {
      const r = rawTimerRecord(props);
      expect(r.realTopic).toBe('Odd');
      expect(surgery([r], 16).equals(reference([r])), JSON.stringify(props)).toBe(true);
    }
    // All of them in one batch, mixed with plain ones.
    const mixed = [...cases, timer, `k\u0001v\u0002${timer}`].map((p) => rawTimerRecord(p));
    expect(surgery(mixed, 100).equals(reference(mixed))).toBe(true);
  });

  it('reads the fields firing needs as decodeProperties does (last of a name wins, UTF-8 values)', () => {
    const r = rawTimerRecord(
      `${C.REAL_TOPIC}\u0001First\u0002${C.UNIQ_KEY}\u0001ïd\u0002${C.REAL_TOPIC}\u0001Second\u0002${C.REAL_QID}\u00014\u0002${C.TIMER_OUT_MS}\u0001${NOW}\u0002`,
    );
    expect([r.realTopic, r.messageId, r.realQueueId, r.deliverMs, r.cancels]).toEqual(['Second', 'ïd', 4, NOW, undefined]);
    expect(r.props[C.REAL_TOPIC]).toBe('Second');
    expect(readTimerRecord(rawRecord(`${C.REAL_TOPIC}\u0001X\u0002`))).toBeUndefined();
    expect(readTimerRecord(rawRecord(`${C.TIMER_OUT_MS}\u0001x\u0002${C.REAL_TOPIC}\u0001X\u0002`))).toBeUndefined();
    expect(rawTimerRecord(`${C.TIMER_OUT_MS}\u0001${NOW}\u0002${C.REAL_TOPIC}\u0001X\u0002${C.TIMER_DEL_UNIQKEY}\u0001gone\u0002`).cancels).toBe('gone');
  });
});
