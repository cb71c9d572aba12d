/**
 * The usual ack answer, every entry OK, as one fixed text. The broker writes it and the gateway
 * passes it on without serializing an object per entry, and the SDK and the gateway recognize
 * it with one byte comparison instead of parsing it: on the consume path an ack of 32 answered
 * through the gateway was parsed and written out again at every hop, at more CPU than the
 * ack's own work. Any other answer is ordinary JSON and parsed as such.
 *
 *   results  [{"status":"OK"},{"status":"OK"},…]   n entries: 16n + 1 bytes (2 for n = 0)
 *   answer   {"results":<results>}
 */
import { parseJson } from '../http/http-client.js';
import type { AckResponse } from './consume-types.js';

const OK_ENTRY = '{"status":"OK"}';
const OK: AckResponse['results'][number] = Object.freeze({ status: 'OK' as const });

/** True when every result is OK: the answer that is written as the fixed text. */
export function allOk(results: AckResponse['results']): boolean {
  return results.every((r) => r.status === 'OK');
}

/** JSON.stringify of n OK results. */
export function allOkResultsJson(n: number): string {
  return n === 0 ? '[]' : `[${`${OK_ENTRY},`.repeat(n - 1)}${OK_ENTRY}]`;
}

/** JSON.stringify({ results }) of n OK results. */
export function allOkAnswerJson(n: number): string {
  return `{"results":${allOkResultsJson(n)}}`;
}

/** n OK results (one shared, frozen entry). */
export function okResults(n: number): AckResponse['results'] {
  return new Array<AckResponse['results'][number]>(n).fill(OK);
}

const resultsBytes = new Map<number, Buffer>();

/** allOkResultsJson(n) as bytes, made once per n (n is at most an ack's entry limit). */
export function allOkResultsBytes(n: number): Buffer {
  let b = resultsBytes.get(n);
  if (!b) resultsBytes.set(n, (b = Buffer.from(allOkResultsJson(n), 'latin1')));
  return b;
}

const ANSWER_HEAD = Buffer.from('{"results":', 'latin1');

/** The count of OK results when `bytes` is exactly allOkResultsJson of it; undefined for any other text. */
export function allOkResultsCount(bytes: Uint8Array): number | undefined {
  const n = bytes.length === 2 ? 0 : (bytes.length - 1) / 16;
  if (!Number.isInteger(n) || n < 0) return undefined;
  return allOkResultsBytes(n).equals(bytes) ? n : undefined;
}

/**
 * An ack answer's results: the shared OK entries when `body` is allOkAnswerJson, else the parsed
 * JSON's `results` (undefined when it is not JSON or has none; the caller says what that means).
 */
export function ackAnswerResults(body: Buffer): AckResponse['results'] | undefined {
  const inner = body.length > ANSWER_HEAD.length + 1 && body[body.length - 1] === 0x7d ? body.subarray(ANSWER_HEAD.length, body.length - 1) : undefined;
  if (inner && body.subarray(0, ANSWER_HEAD.length).equals(ANSWER_HEAD)) {
    const n = allOkResultsCount(inner);
    if (n !== undefined) return okResults(n);
  }
  const parsed = parseJson(body) as Partial<AckResponse> | undefined;
  return Array.isArray(parsed?.results) ? parsed.results : undefined;
}
