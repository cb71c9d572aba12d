/**
 * Answers JSON text written by hand (message-json.ts, read-answer.ts: the hot and size-capped
 * paths) as a route's typed 200: the route's schema documents what that text holds.
 */
import type { Context, TypedResponse } from 'hono';

export type JsonText = TypedResponse<any, 200, 'json'>;

export function jsonText(c: Context, text: string): JsonText {
  return c.body(text, 200, { 'Content-Type': 'application/json' }) as unknown as JsonText;
}
