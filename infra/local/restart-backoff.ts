/**
 * When to restart a process that exited unexpectedly, as supervisord or systemd decide it:
 * exponential delays with a cap; a process that stayed healthy for `stableAfterMs` starts the
 * count afresh; after `maxRapidRestarts` restarts that each failed quickly, give up (a broker
 * whose store refuses to open will not heal by being started again).
 */
export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  stableAfterMs: number;
  maxRapidRestarts: number;
}

/** 0.5, 1, 2, 4, 8, 16, 30, 30 s: about 90 s of tries before giving up. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  stableAfterMs: 30_000,
  maxRapidRestarts: 8,
};

export class RestartBackoff {
  private rapidFailures = 0;

  constructor(private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY) {}

  /**
   * After an exit: the delay before the next start, or undefined to give up. `healthyAt` is
   * when the exited process first answered its health check (undefined: it never did).
   */
  nextDelay(healthyAt: number | undefined, now: number): number | undefined {
    if (healthyAt !== undefined && now - healthyAt >= this.policy.stableAfterMs) this.rapidFailures = 0;
    this.rapidFailures++;
    if (this.rapidFailures > this.policy.maxRapidRestarts) return undefined;
    return Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** (this.rapidFailures - 1));
  }

  /** Restarts in a row that failed quickly (the current streak). */
  get failures(): number {
    return this.rapidFailures;
  }
}
