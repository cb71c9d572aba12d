/** Retry with exponential backoff and full jitter (as KafkaJS), stoppable by an AbortSignal. */
export interface RetryOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Unlimited when absent: registration retries until the NameServer answers. */
  maxAttempts?: number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw e;
      const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
      // Full jitter: brokers restarted together do not retry in lockstep.
      const delay = Math.round(ceiling / 2 + (random() * ceiling) / 2);
      options.onRetry?.(e, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
