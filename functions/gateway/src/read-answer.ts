/**
 * Read and lookup answers that fit a Lambda result (limits.ts MAX_READ_ANSWER_BYTES): the
 * messages are written to JSON one by one and weighed as the Lambda runtime will carry them,
 * and the answer stops before the one that would not fit. The first message always goes in:
 * when its text body escapes too large (quotes, control characters), it goes as base64,
 * which always fits, so every message stays readable.
 */
import { MAX_READ_ANSWER_BYTES } from './limits';

/** What `json` weighs inside a Lambda result: its UTF-8 bytes, plus a backslash for each '"' and '\'. */
export function lambdaWeight(json: string): number {
  let escapes = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 34 || c === 92) escapes++;
  }
  return Buffer.byteLength(json, 'utf8') + escapes;
}

/**
 * The JSON texts of the longest prefix of `messages` that weighs at most `budget` as the
 * inside of a JSON array (always at least one message when there is one). `encode` writes one
 * message; with `base64` its body as base64.
 */
export function capMessages<T>(messages: readonly T[], encode: (m: T, base64: boolean) => string, budget: number): string[] {
  const parts: string[] = [];
  let used = 0;
  for (let i = 0; i < messages.length; i++) {
    let text = encode(messages[i]!, false);
    let weight = lambdaWeight(text) + (i > 0 ? 1 : 0);
    if (i === 0 && weight > budget) {
      text = encode(messages[0]!, true);
      weight = lambdaWeight(text);
    }
    if (i > 0 && used + weight > budget) break;
    parts.push(text);
    used += weight;
  }
  return parts;
}

/** Room kept in MAX_READ_ANSWER_BYTES for an answer's fields beside its messages (offsets, broker names). */
export const ANSWER_FIELDS_BYTES = 4096;

/** The messages' budget in an answer. */
export const MESSAGES_BUDGET = MAX_READ_ANSWER_BYTES - ANSWER_FIELDS_BYTES;
