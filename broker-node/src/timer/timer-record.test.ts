import { describe, expect, it } from 'vitest';
import { decodeProperties, MessageConst, timerProperties } from '@cirrusmq/client/protocol';
import { deliverTimeOf } from './timer-record';

const NOW = 1_800_000_000_000;
const HORIZON = 40 * 86_400_000;
const S = 1000;
const M = 60 * S;

describe('timer schedules', () => {
  it("maps RocketMQ 4's delay levels 1..18 to 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", () => {
    const expected = [S, 5 * S, 10 * S, 30 * S, M, 2 * M, 3 * M, 4 * M, 5 * M, 6 * M, 7 * M, 8 * M, 9 * M, 10 * M, 20 * M, 30 * M, 60 * M, 120 * M];
    const got = expected.map((_, i) => deliverTimeOf(decodeProperties(timerProperties({ delayTimeLevel: i + 1 })), NOW, HORIZON)! - NOW);
    expect(got).toEqual(expected);
  });

  it('turns deliverAt and delaySeconds into their RocketMQ properties and due times', () => {
    expect(timerProperties({ deliverAt: NOW + 1234 })).toBe(`${MessageConst.TIMER_DELIVER_MS}\u0001${NOW + 1234}\u0002`);
    expect(deliverTimeOf(decodeProperties(timerProperties({ deliverAt: NOW + 1234 })), NOW, HORIZON)).toBe(NOW + 1234);
    expect(deliverTimeOf(decodeProperties(timerProperties({ delaySeconds: 7 })), NOW, HORIZON)).toBe(NOW + 7000);
    expect(timerProperties({})).toBe('');
    expect(deliverTimeOf({ a: 'b' }, NOW, HORIZON)).toBeUndefined();
  });

  it('refuses bad schedules in the SDK with INVALID_DELAY: negative, fractional, non-number, level 0 or 19, two at once', () => {
    for (const bad of [
      { delaySeconds: -1 },
      { delaySeconds: 1.5 },
      { delaySeconds: '5' as unknown as number },
      { deliverAt: Number.NaN },
      { deliverAt: -1 },
      { delayTimeLevel: 0 },
      { delayTimeLevel: 19 },
      { delayTimeLevel: 2.5 },
      { deliverAt: NOW, delaySeconds: 1 },
    ]) {
      expect(() => timerProperties(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'INVALID_DELAY' }));
    }
  });

  it('refuses a due time past the horizon on the broker', () => {
    expect(() => deliverTimeOf({ [MessageConst.TIMER_DELAY_SEC]: String(HORIZON / 1000 + 1) }, NOW, HORIZON)).toThrow(
      expect.objectContaining({ code: 'INVALID_DELAY' }),
    );
    expect(deliverTimeOf({ [MessageConst.TIMER_DELAY_SEC]: String(HORIZON / 1000) }, NOW, HORIZON)).toBe(NOW + HORIZON);
  });
});
