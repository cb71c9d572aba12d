/**
 * Calls an HTTP producer group's check URL (it cannot be called back over its own connection,
 * unlike RocketMQ's producers): POST {transaction JSON}, answered by COMMIT, ROLLBACK or
 * UNKNOWN, as text or as {"resolution": ...}. A timeout, an error status, a refused connection
 * or any other answer is UNKNOWN, with the reason counted (cirrusmq_transaction_check_unknown_total).
 */
import type { TransactionResolution } from '@cirrusmq/client/protocol';

export type CheckUnknownReason = 'unknown' | 'timeout' | 'garbage' | 'error';

export interface CheckUrlAnswer {
  resolution: TransactionResolution;
  /** Why the answer counts as UNKNOWN: the checker said so, or it could not be heard. */
  reason?: CheckUnknownReason;
}

const RESOLUTIONS = new Set(['COMMIT', 'ROLLBACK', 'UNKNOWN']);

export async function callCheckUrl(url: string, payload: unknown, timeoutMs: number): Promise<CheckUrlAnswer> {
  let text: string;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect is not followed: the registered URL is the only place the broker POSTs to.
      redirect: 'manual',
    });
    text = (await res.text()).trim();
    if (!res.ok) return { resolution: 'UNKNOWN', reason: 'error' };
  } catch (e) {
    const name = (e as Error).name;
    return { resolution: 'UNKNOWN', reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'error' };
  }
  return parseCheckAnswer(text);
}

/** `COMMIT`, `"COMMIT"` or `{"resolution":"COMMIT"}` (any case); anything else is garbage. */
export function parseCheckAnswer(text: string): CheckUrlAnswer {
  let word: unknown = text;
  if (text.startsWith('{') || text.startsWith('"')) {
    try {
      const v = JSON.parse(text) as unknown;
      word = typeof v === 'object' && v !== null ? (v as { resolution?: unknown }).resolution : v;
    } catch {
      return { resolution: 'UNKNOWN', reason: 'garbage' };
    }
  }
  const up = typeof word === 'string' ? word.trim().toUpperCase() : '';
  if (!RESOLUTIONS.has(up)) return { resolution: 'UNKNOWN', reason: 'garbage' };
  return up === 'UNKNOWN' ? { resolution: 'UNKNOWN', reason: 'unknown' } : { resolution: up as TransactionResolution };
}
