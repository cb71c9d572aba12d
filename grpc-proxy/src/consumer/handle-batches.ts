/**
 * The entries of an AckMessage (or a dead-letter forward) grouped by the broker their receipt
 * handle names, one broker request per broker and up to MAX_ACK_ENTRIES handles, each entry's
 * outcome put back in its place. A handle that names no broker, or a broker that serves no
 * queue of the topic, fails alone as INVALID_RECEIPT_HANDLE; the others go on.
 */
import { type AckResponse, CirrusError, ConsumeLimits, isErrorCode, receiptHandleBroker, type RouteCache } from '@cirrusmq/client/protocol';
import { okStatus, type RmqStatus, statusOf } from '../status.js';
import { brokerAddr } from './broker-addr.js';

/** One broker call for `handles` of one broker (at most MAX_ACK_ENTRIES). */
export type HandleCall = (addr: string, handles: string[]) => Promise<AckResponse>;

export async function settleByBroker(routes: RouteCache, topic: string, handles: readonly string[], call: HandleCall): Promise<RmqStatus[]> {
  const out: RmqStatus[] = new Array(handles.length);
  const byBroker = new Map<string, number[]>();
  handles.forEach((h, i) => {
    const broker = receiptHandleBroker(h);
    if (broker === undefined) {
      out[i] = { code: 'INVALID_RECEIPT_HANDLE', message: 'not a receipt handle' };
      return;
    }
    const list = byBroker.get(broker);
    if (list) list.push(i);
    else byBroker.set(broker, [i]);
  });
  await Promise.all(
    [...byBroker].map(async ([broker, indexes]) => {
      const addr = await brokerAddr(routes, topic, broker);
      if (!addr) {
        for (const i of indexes)
          out[i] = { code: 'INVALID_RECEIPT_HANDLE', message: `the receipt handle names broker ${broker}, which serves no queue of ${topic}` };
        return;
      }
      for (let from = 0; from < indexes.length; from += ConsumeLimits.MAX_ACK_ENTRIES) {
        const chunk = indexes.slice(from, from + ConsumeLimits.MAX_ACK_ENTRIES);
        try {
          const res = await call(
            addr,
            chunk.map((i) => handles[i]!),
          );
          chunk.forEach((i, j) => {
            const r = res.results[j];
            if (!r) out[i] = statusOf(new CirrusError('INTERNAL', `broker ${broker} answered fewer results than handles`));
            else if (r.status === 'OK') out[i] = okStatus();
            else out[i] = entryStatus(r.error);
          });
        } catch (e) {
          const status = statusOf(e);
          for (const i of chunk) out[i] = status;
        }
      }
    }),
  );
  return out;
}

/** The response's overall status: OK when all are, the shared failure when all failed alike, MULTIPLE_RESULTS otherwise (Apache's AckMessageActivity). */
export function overallStatus(entries: readonly RmqStatus[]): RmqStatus {
  const first = entries[0];
  if (!first) return okStatus();
  if (entries.every((s) => s.code === first.code)) return first;
  return { code: 'MULTIPLE_RESULTS', message: 'the entries have different results: see each entry' };
}

/** A broker's per-entry failure ({code, message} of a CirrusError) as its RocketMQ status. */
export function entryStatus(error: { code: string; message: string }): RmqStatus {
  return statusOf(isErrorCode(error.code) ? new CirrusError(error.code, error.message) : new CirrusError('INTERNAL', `${error.code}: ${error.message}`));
}
