/**
 * A message's schedule (Message.deliverAt / delaySeconds / delayTimeLevel) as the properties
 * RocketMQ puts on the wire: TIMER_DELIVER_MS (epoch ms), TIMER_DELAY_SEC (seconds from the
 * broker's receipt) or DELAY (RocketMQ 4's level). Shapes are checked here, before anything is
 * sent; the horizon is the broker's (its own configuration), checked there.
 */
import { CirrusError } from '../errors.js';
import { DELAY_LEVELS_MS, type Message, MessageConst } from '../message.js';

const NAME_VALUE = '\u0001';
const PROPERTY = '\u0002';

/** The schedule's properties in wire form ('' for a message without one). */
export function timerProperties(msg: Pick<Message, 'deliverAt' | 'delaySeconds' | 'delayTimeLevel'>): string {
  const { deliverAt, delaySeconds, delayTimeLevel } = msg;
  if (deliverAt === undefined && delaySeconds === undefined && delayTimeLevel === undefined) return '';
  const given = (deliverAt !== undefined ? 1 : 0) + (delaySeconds !== undefined ? 1 : 0) + (delayTimeLevel !== undefined ? 1 : 0);
  if (given > 1) throw new CirrusError('INVALID_DELAY', 'give at most one of deliverAt, delaySeconds and delayTimeLevel');
  if (deliverAt !== undefined) {
    if (!Number.isSafeInteger(deliverAt) || deliverAt < 0) throw new CirrusError('INVALID_DELAY', 'deliverAt must be a non-negative integer (epoch ms)');
    return MessageConst.TIMER_DELIVER_MS + NAME_VALUE + deliverAt + PROPERTY;
  }
  if (delaySeconds !== undefined) {
    if (!Number.isSafeInteger(delaySeconds) || delaySeconds < 0) throw new CirrusError('INVALID_DELAY', 'delaySeconds must be a non-negative integer');
    return MessageConst.TIMER_DELAY_SEC + NAME_VALUE + delaySeconds + PROPERTY;
  }
  if (!Number.isInteger(delayTimeLevel) || (delayTimeLevel as number) < 1 || (delayTimeLevel as number) > DELAY_LEVELS_MS.length) {
    throw new CirrusError('INVALID_DELAY', `delayTimeLevel must be an integer from 1 to ${DELAY_LEVELS_MS.length}`);
  }
  return MessageConst.DELAY + NAME_VALUE + delayTimeLevel + PROPERTY;
}

/** The delay of RocketMQ 4's level 1..18 in ms; undefined for any other value. */
export function delayLevelMs(level: number): number | undefined {
  return Number.isInteger(level) && level >= 1 ? DELAY_LEVELS_MS[level - 1] : undefined;
}
