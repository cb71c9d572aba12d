/** A per-entry failure of an ack or change-invisibility answer, as the CirrusError it names. */
import type { EntryFailure } from '../api/consume-types.js';
import { CirrusError, isErrorCode } from '../errors.js';

export function entryError(failure: EntryFailure): CirrusError {
  const { code, message } = failure.error;
  return isErrorCode(code) ? new CirrusError(code, message) : new CirrusError('INTERNAL', `${code}: ${message}`);
}

/** Milliseconds as the HTTP API's whole seconds, rounded up so a lease is never shorter than asked. */
export const toSeconds = (ms: number): number => Math.ceil(ms / 1000);
