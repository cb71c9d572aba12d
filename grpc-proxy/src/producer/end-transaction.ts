/**
 * EndTransaction: commits or rolls back a half message, at the client's own decision (source
 * CLIENT) or answering a check-back (SERVER_CHECK). The transaction id names the broker
 * holding it (encodeTransactionId), so no lookup table; the ends of one turn to a broker share
 * one batch end (TransactionEndSender).
 *
 * An id no send answered, or one its broker no longer knows, is INVALID_TRANSACTION_ID (the
 * clients' BadRequestException). Ending it again the same way answers OK: a client whose
 * commit raced a check-back (both answered COMMIT) has nothing wrong to report; the other way
 * (a commit after a rollback) is BAD_REQUEST, since that message will never be delivered.
 */
import { CirrusError, decodeTransactionId, TransactionEndSender } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';
import { okStatus, RmqStatusError } from '../status.js';

const RESOLUTIONS = new Set(['COMMIT', 'ROLLBACK']);

export function endTransaction(ctx: ProxyContext) {
  // Per broker: the ends of one event-loop turn (many clients' commits) in one batch end, as the SDK sends its own.
  const senders = new Map<string, TransactionEndSender>();
  const senderFor = (addr: string) => {
    let s = senders.get(addr);
    if (!s) senders.set(addr, (s = new TransactionEndSender(ctx.brokers.get(addr))));
    return s;
  };
  return unary('EndTransaction', ctx.logger, async (req: any) => {
    const resolution = String(req.resolution ?? '');
    if (!RESOLUTIONS.has(resolution)) throw new RmqStatusError('BAD_REQUEST', 'resolution must be COMMIT or ROLLBACK');
    let id: { brokerName: string; messageId: string };
    try {
      id = decodeTransactionId(String(req.transaction_id ?? ''));
    } catch {
      throw new RmqStatusError('INVALID_TRANSACTION_ID', 'transaction_id is not one a transactional send answered');
    }
    const addr = await ctx.masters.addrOf(id.brokerName);
    if (!addr) throw new CirrusError('BROKER_NOT_FOUND', `broker ${id.brokerName} of transaction ${req.transaction_id} is not in the cluster`);
    try {
      await senderFor(addr).end(id.messageId, resolution as 'COMMIT' | 'ROLLBACK');
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'TRANSACTION_ALREADY_ENDED' && e.details?.resolution === resolution) {
        return { status: okStatus(`already ${resolution === 'COMMIT' ? 'committed' : 'rolled back'}`) };
      }
      throw e;
    }
    return { status: okStatus() };
  });
}
