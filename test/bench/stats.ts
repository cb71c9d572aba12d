/** Latency and throughput arithmetic for the benchmarks. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export interface LoadResult {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  messages: number;
  errors: number;
}

/**
 * Runs `workers` loops of `op` for `durationMs`; each op sends `msgsPerOp` messages and its
 * latency is one sample. Failed ops count as errors, not as throughput.
 */
export async function runLoad(workers: number, durationMs: number, msgsPerOp: number, op: () => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await op();
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedSec = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    msgsPerSec: (latencies.length * msgsPerOp) / elapsedSec,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requests: latencies.length,
    messages: latencies.length * msgsPerOp,
    errors,
  };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
