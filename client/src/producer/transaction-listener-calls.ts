/**
 * The two calls into a TransactionListener, shared by the direct TransactionProducer and the
 * gateway's HttpTransactionProducer: the local transaction after a half send, and the answer
 * to a check-back. A listener that throws answers UNKNOWN (left to the next check).
 */
import { toCirrusError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Message, SendResult } from '../message.js';
import type { TransactionResolution } from './transaction-id.js';
import type { TransactionCheckView, TransactionListener } from './transaction-producer.js';

/**
 * executeLocalTransaction's answer. A listener answering at once gets its answer back as it
 * is, not a promise: the caller need not await it (no microtask turn per transaction).
 */
export function localResolution(
  listener: TransactionListener,
  msg: Message,
  arg: unknown,
  result: SendResult & { transactionId: string },
  logger: Logger,
): TransactionResolution | Promise<TransactionResolution> {
  const unknown = (e: unknown): TransactionResolution => {
    logger.warn('executeLocalTransaction threw: left to the check-back', { transactionId: result.transactionId, err: e });
    return 'UNKNOWN';
  };
  try {
    const local = listener.executeLocalTransaction(msg, arg, result);
    return typeof local === 'string' ? local : Promise.resolve(local).catch(unknown);
  } catch (e) {
    return unknown(e);
  }
}

/**
 * Asks checkLocalTransaction and ends the transaction as it answers (`end`); true when this
 * call ended it. One ended meanwhile (by this producer, another of its group, or the last
 * check) is nothing to do; other failures are thrown.
 */
export async function answerCheck(
  listener: TransactionListener,
  check: TransactionCheckView,
  end: (resolution: 'COMMIT' | 'ROLLBACK') => Promise<unknown>,
  logger: Logger,
): Promise<boolean> {
  let resolution: TransactionResolution;
  try {
    resolution = await listener.checkLocalTransaction(check);
  } catch (e) {
    logger.warn('checkLocalTransaction threw: UNKNOWN', { transactionId: check.transactionId, err: e });
    return false;
  }
  if (resolution !== 'COMMIT' && resolution !== 'ROLLBACK') return false;
  try {
    await end(resolution);
    return true;
  } catch (e) {
    const code = toCirrusError(e).code;
    if (code !== 'TRANSACTION_NOT_FOUND' && code !== 'TRANSACTION_ALREADY_ENDED') throw e;
    return false;
  }
}
