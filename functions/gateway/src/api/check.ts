/**
 * The bridge between zod and the project's validators: a route's parameters are parsed by the
 * same functions the SDK uses (validateTopic, parseNonNegativeInt...), inside zod transforms,
 * so a refusal keeps its CirrusError code and message; `validationHook` turns zod's failure
 * back into that CirrusError, answered as {"error":{"code","message"}} by the app's onError.
 */
import { z } from '@hono/zod-openapi';
import { CirrusError, type ErrorCode } from '@cirrusmq/client/protocol';

/** The issue param that carries a CirrusError's code through zod. */
const CODE = 'cirrusCode';

/** `parse`'s result, or an issue carrying the CirrusError it threw. */
export function checked<T>(parse: () => T, ctx: z.RefinementCtx): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof CirrusError)) throw e;
    ctx.addIssue({ code: 'custom', message: e.message, params: { [CODE]: e.code } });
    return z.NEVER;
  }
}

/** A path parameter checked (and typed) by `parse`, which throws a CirrusError to refuse. */
export const pathParam = <T>(parse: (raw: string) => T) => z.string().transform((raw, ctx) => checked(() => parse(raw), ctx));

/** A query parameter, absent as undefined, checked by `parse`. */
export const queryParam = <T>(parse: (raw: string | undefined) => T) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => checked(() => parse(raw), ctx));

/** The code of a zod-made refusal (a missing field, a wrong type) of a field, when not INVALID_PARAMETER. */
const FIELD_CODES: Record<string, ErrorCode> = { topic: 'INVALID_TOPIC' };

/** OpenAPIHono's defaultHook: a failed validation is thrown as the CirrusError it stands for. */
export function validationHook(result: { success: true } | { success: false; error: z.ZodError }): void {
  if (result.success) return;
  const issue = result.error.issues[0]!;
  const ours = issue.code === 'custom' ? (issue.params?.[CODE] as ErrorCode | undefined) : undefined;
  if (ours) throw new CirrusError(ours, issue.message);
  // A zod-made issue names its field; the project's validators say it in their message.
  const field = issue.path.join('.');
  throw new CirrusError(FIELD_CODES[field] ?? 'INVALID_PARAMETER', field ? `${field}: ${issue.message}` : issue.message);
}

/** `value` parsed by `schema`, or the CirrusError its first issue stands for (for bodies read by readJsonObject). */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) validationHook(result);
  return result.data as z.output<T>;
}
