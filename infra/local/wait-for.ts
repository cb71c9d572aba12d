/**
 * Polls `check` every `intervalMs` until it answers true, or throws after `timeoutMs`. A check
 * that throws an error saying a process "exited" ends the wait at once (it will not recover).
 */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if (e instanceof Error && e.message.includes('exited')) throw e;
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
