/**
 * RocketMQ's ServiceThread for the broker's background services: one loop per service that
 * waits an interval (or a wakeup), does a pass, and repeats until shutdown.
 *
 *   start() -> runLoop(signal): while not aborted { await waitForRunning(ms, signal); pass }
 *   wakeup()   ends the current wait now; a wakeup during a pass ends the next wait at once
 *              (RocketMQ's hasNotified), so work asked for mid-pass is never lost
 *   shutdown() aborts the signal (ending any wait) and resolves once the running pass is done
 *
 * Each wait is its own unref'd timeout, not an interval: a slow pass never stacks passes up,
 * and the timer alone never keeps the process alive (the servers do).
 */
import type { Logger } from '@cirrusmq/client/protocol';

export abstract class ServiceThread {
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private notified = false;
  private endWait: (() => void) | undefined;

  constructor(protected readonly logger: Logger) {}

  /** The name in log lines. */
  abstract getServiceName(): string;

  /**
   * The loop (RocketMQ's run(); named runLoop because run() is the one-pass method of several
   * services). Returns once `signal` is aborted; an error thrown out of it stops the service.
   */
  protected abstract runLoop(signal: AbortSignal): Promise<void>;

  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    this.abort = abort;
    this.notified = false;
    this.loop = this.runLoop(abort.signal).catch((err: unknown) => this.logger.error(`${this.getServiceName()}: stopped by an error`, { err }));
  }

  isStopped(): boolean {
    return this.abort?.signal.aborted ?? true;
  }

  /** Ends the current wait now, or the next one at once when a pass is running. */
  wakeup(): void {
    if (this.isStopped() || this.notified) return;
    this.notified = true;
    this.endWait?.();
  }

  /** Waits `intervalMs`, a wakeup, or the abort, whichever comes first. */
  protected waitForRunning(intervalMs: number, signal: AbortSignal): Promise<void> {
    if (this.notified || signal.aborted) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.endWait = undefined;
        this.notified = false;
        resolve();
      };
      const timer = setTimeout(done, intervalMs);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
      this.endWait = done;
    });
  }

  /** Stops the loop; resolves once the pass in flight (if any) is done. */
  async shutdown(): Promise<void> {
    this.abort?.abort();
    const loop = this.loop;
    this.loop = undefined;
    await loop;
  }
}
