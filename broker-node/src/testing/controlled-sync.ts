/**
 * A disk and a clock a test drives, so timeout tests do not race the machine: on a loaded
 * 2-core box a real fdatasync can take longer than any short syncFlushTimeoutMs, and a
 * fixed sleep can end before (or long after) the event it waits for.
 *
 *   const sync = new ControlledSync();       // store config: { dataSync: sync.fn }
 *   const clock = new ManualClock();         // store config: { syncFlushClock: clock.now }
 *   sync.hold();                             // the disk "hangs": every fdatasync waits at the gate
 *   const put = store.putMessages(...);
 *   await sync.whenCalls(1);                 // the sync for it has begun and is held
 *   clock.advance(timeoutMs + 1);            // only now may the deadline pass
 *   sync.release();                          // the held syncs run the real fdatasync
 */
import { fsDataSync, type DataSync } from '../store/mapped-file';

export class ControlledSync {
  /** fdatasync calls begun (held ones included). */
  calls = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private waiters: { n: number; resolve(): void }[] = [];

  /** The DataSync to give the store: counts, waits at the gate while held, then syncs for real. */
  readonly fn: DataSync = async (fd) => {
    this.calls++;
    this.waiters = this.waiters.filter((w) => (this.calls >= w.n ? (w.resolve(), false) : true));
    if (this.gate) await this.gate;
    await fsDataSync(fd);
  };

  /** From now on every fdatasync waits until release(). */
  hold(): void {
    if (!this.gate) this.gate = new Promise((r) => (this.open = r));
  }

  /** Lets the held fdatasyncs (and later ones) run. */
  release(): void {
    this.gate = undefined;
    this.open?.();
    this.open = undefined;
  }

  /** Resolves once `n` fdatasyncs have begun (the last may still be held at the gate). */
  whenCalls(n: number): Promise<void> {
    if (this.calls >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

/** A clock that moves only when the test says: a deadline measured on it cannot pass while the machine is merely slow. */
export class ManualClock {
  constructor(private t = Date.now()) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}
