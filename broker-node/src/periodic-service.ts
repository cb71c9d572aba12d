/**
 * A ServiceThread whose pass is one callback: for the small timers inside a service (the
 * IndexService's persist, the heartbeat, the write-ahead log's ack-timeout sweep, the tier's
 * status line), so they share the one loop instead of each writing setTimeout, a stopped
 * flag and a reschedule. A pass that throws is logged and the next runs an interval later.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import { ServiceThread } from './service-thread';

export class PeriodicService extends ServiceThread {
  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void> | void,
    logger: Logger,
  ) {
    super(logger);
  }

  getServiceName(): string {
    return this.name;
  }

  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForRunning(this.intervalMs, signal);
      if (signal.aborted) return;
      try {
        await this.pass();
      } catch (err) {
        this.logger.error(`${this.name}: pass failed`, { err });
      }
    }
  }
}
