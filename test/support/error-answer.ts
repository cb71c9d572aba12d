/** Checking an HTTP error answer ({"error":{code,message}}, as every CirrusMQ runtime answers) in tests. */
import { expect } from 'vitest';

/** `res` is `status` with error `code` and a message (matching `message`, when given). */
export async function expectError(res: Response, status: number, code: string, message?: RegExp): Promise<void> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
  expect(body.error.message).toEqual(message ? expect.stringMatching(message) : expect.any(String));
}
