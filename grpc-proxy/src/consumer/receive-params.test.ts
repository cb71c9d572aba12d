import { describe, expect, it } from 'vitest';
import { RmqStatusError } from '../status.js';
import { AUTO_RENEW_INVISIBLE_MS, DEADLINE_MARGIN_MS, durationMs, receiveParams } from './receive-params.js';

const NOW = 1_000_000;

function request(over: Record<string, unknown> = {}) {
  return {
    group: { name: 'g1' },
    message_queue: { topic: { name: 'Orders' }, id: 0, broker: { name: 'broker-a' } },
    filter_expression: { type: 'TAG', expression: '*' },
    batch_size: 10,
    invisible_duration: { seconds: 15, nanos: 0 },
    auto_renew: false,
    long_polling_timeout: { seconds: 30, nanos: 0 },
    ...over,
  };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof RmqStatusError) return e.code;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('receiveParams', () => {
  it('pops the named broker with the request values, the long poll clamped to the broker maximum (20 s)', () => {
    expect(receiveParams(request(), NOW + 33_000, NOW)).toEqual({
      brokerName: 'broker-a',
      pop: { topic: 'Orders', group: 'g1', max: 10, invisibleMs: 15_000, waitMs: 20_000 },
      autoRenew: false,
    });
  });

  it('keeps the long poll inside the call deadline, and polls 0 when the deadline is near', () => {
    expect(receiveParams(request(), NOW + 5_000, NOW).pop.waitMs).toBe(5_000 - DEADLINE_MARGIN_MS);
    expect(receiveParams(request(), NOW + 500, NOW).pop.waitMs).toBe(0);
    expect(receiveParams(request({ long_polling_timeout: { seconds: 2, nanos: 500_000_000 } }), Number.POSITIVE_INFINITY, NOW).pop.waitMs).toBe(2_500);
    expect(receiveParams(request({ long_polling_timeout: null }), Number.POSITIVE_INFINITY, NOW).pop.waitMs).toBe(20_000);
  });

  it('clamps the batch to 32 and passes a tag expression on', () => {
    const p = receiveParams(request({ batch_size: 500, filter_expression: { type: 'TAG', expression: 'TagA || TagB' } }), Number.POSITIVE_INFINITY, NOW);
    expect(p.pop.max).toBe(32);
    expect(p.pop.filter).toBe('TagA || TagB');
  });

  it('auto_renew without an invisible duration gets the push-consumer lease, renewed by the proxy', () => {
    const p = receiveParams(request({ auto_renew: true, invisible_duration: null }), Number.POSITIVE_INFINITY, NOW);
    expect(p.pop.invisibleMs).toBe(AUTO_RENEW_INVISIBLE_MS);
    expect(p.autoRenew).toBe(true);
  });

  it('answers bad requests with the RocketMQ code the clients expect', () => {
    expect(codeOf(() => receiveParams(request({ group: { name: '' } }), Infinity, NOW))).toBe('ILLEGAL_CONSUMER_GROUP');
    expect(codeOf(() => receiveParams(request({ group: { name: '%DLQ%x' } }), Infinity, NOW))).toBe('ILLEGAL_CONSUMER_GROUP');
    expect(codeOf(() => receiveParams(request({ message_queue: { topic: { name: 'bad topic' }, broker: { name: 'b' } } }), Infinity, NOW))).toBe(
      'ILLEGAL_TOPIC',
    );
    expect(codeOf(() => receiveParams(request({ message_queue: { topic: { name: 'Orders' } } }), Infinity, NOW))).toBe('BAD_REQUEST');
    expect(codeOf(() => receiveParams(request({ batch_size: 0 }), Infinity, NOW))).toBe('BAD_REQUEST');
    expect(codeOf(() => receiveParams(request({ invisible_duration: null }), Infinity, NOW))).toBe('ILLEGAL_INVISIBLE_TIME');
    expect(codeOf(() => receiveParams(request({ invisible_duration: { seconds: 0, nanos: 5_000_000 } }), Infinity, NOW))).toBe('ILLEGAL_INVISIBLE_TIME');
    expect(codeOf(() => receiveParams(request({ invisible_duration: { seconds: 50_000 } }), Infinity, NOW))).toBe('ILLEGAL_INVISIBLE_TIME');
    expect(codeOf(() => receiveParams(request({ filter_expression: { type: 'TAG', expression: 'A || ' } }), Infinity, NOW))).toBe('ILLEGAL_FILTER_EXPRESSION');
    expect(codeOf(() => receiveParams(request({ filter_expression: { type: 'SQL', expression: 'a > 1' } }), Infinity, NOW))).toBe('UNSUPPORTED');
  });

  it('reads proto durations as ms', () => {
    expect(durationMs({ seconds: 3, nanos: 250_000_000 })).toBe(3_250);
    expect(durationMs(undefined)).toBeUndefined();
  });
});
