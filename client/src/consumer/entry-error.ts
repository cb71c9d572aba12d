/** A per-entry failure of an ack or change-invisibility answer, as the CirrusError it names. */
import type { AckResponse, EntryFailure } from '../api/consume-types.js';
import { CirrusError, isErrorCode } from '../errors.js';
import type { AckOutcome } from './consume-backend.js';

export function entryError(failure: EntryFailure): CirrusError {
  const { code, message } = failure.error;
  return isErrorCode(code) ? new CirrusError(code, message) : new CirrusError('INTERNAL', `${code}: ${message}`);
}

/** Sets outcomes[indexes[j]] from the j-th result of one ack answer; a result missing from it is an INTERNAL error naming `answerer`. */
export function settleAcks(outcomes: AckOutcome[], indexes: readonly number[], res: AckResponse, answerer: 'broker' | 'gateway'): void {
  indexes.forEach((i, j) => {
    const r = res.results[j];
    outcomes[i] =
      r === undefined ? new CirrusError('INTERNAL', `the ${answerer} answered fewer ack results than handles`) : r.status === 'OK' ? null : entryError(r);
  });
}

/** Milliseconds as the HTTP API's whole seconds, rounded up so a lease is never shorter than asked. */
export const toSeconds = (ms: number): number => Math.ceil(ms / 1000);
