/**
 * Transaction ids and half-message marks, shared by the SDK, the gateway and the broker.
 *
 * A transaction id names the broker holding the half message and the message's id:
 * `{messageId}.{brokerName as base64url}`, so a commit or rollback goes straight to that broker
 * with no lookup table anywhere (RocketMQ 5's proxy encodes the broker into its ids the same way).
 */
import type { PreparedMessage } from '../codec/send-batch.js';
import { CirrusError } from '../errors.js';
import { MessageConst } from '../message.js';
import { validateGroup } from '../validation.js';

const MESSAGE_ID = /^[0-9A-Fa-f]{1,64}$/;
const BROKER_B64 = /^[A-Za-z0-9_-]{1,400}$/;

export function encodeTransactionId(brokerName: string, messageId: string): string {
  return `${messageId}.${Buffer.from(brokerName, 'utf8').toString('base64url')}`;
}

/** INVALID_PARAMETER for anything a send did not answer. */
export function decodeTransactionId(id: string): { brokerName: string; messageId: string } {
  const dot = id.indexOf('.');
  const messageId = dot < 0 ? '' : id.slice(0, dot);
  const broker = dot < 0 ? '' : id.slice(dot + 1);
  if (!MESSAGE_ID.test(messageId) || !BROKER_B64.test(broker)) {
    throw new CirrusError('INVALID_PARAMETER', 'transactionId must be the id a transactional send answered ({messageId}.{broker})');
  }
  return { brokerName: Buffer.from(broker, 'base64url').toString('utf8'), messageId };
}

/** A transaction's outcome, RocketMQ's LocalTransactionState (COMMIT_MESSAGE / ROLLBACK_MESSAGE / UNKNOW). */
export type TransactionResolution = 'COMMIT' | 'ROLLBACK' | 'UNKNOWN';

/**
 * Marks prepared messages as half messages of `producerGroup` (RocketMQ's TRAN_MSG and PGROUP):
 * the broker stores them invisible until a commit. A scheduled message cannot be one (as in RocketMQ).
 */
export function markHalfMessages(prepared: PreparedMessage[], producerGroup: string): void {
  // The last group's mark kept: a producer marks every send with the same one.
  if (producerGroup !== lastMark.group) {
    validateGroup(producerGroup);
    const extra = `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002${MessageConst.PRODUCER_GROUP}\u0001${producerGroup}\u0002`;
    lastMark = { group: producerGroup, extra, extraLength: Buffer.byteLength(extra, 'utf8') };
  }
  const { extra, extraLength } = lastMark;
  for (const m of prepared) {
    // The names hold DELAY or DELIVER_MS: the pattern only runs on properties that may hold one.
    const p = m.properties;
    if ((p.includes('DELAY') || p.includes('DELIVER_MS')) && SCHEDULED.test(p)) {
      throw new CirrusError('INVALID_MESSAGE', 'a transactional message cannot be scheduled (deliverAt, delaySeconds, delayTimeLevel)');
    }
    m.properties = p + extra;
    m.propertiesLength += extraLength;
  }
}

const SCHEDULED = /(^|\u0002)(TIMER_DELIVER_MS|TIMER_DELAY_SEC|DELAY)\u0001/;
let lastMark = { group: '', extra: '', extraLength: 0 };
