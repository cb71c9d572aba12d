/**
 * RocketMQ's PopLongPollingService with NotifyMessageArrivingListener: a receive that found
 * nothing parks here; the arrival of a ConsumeQueue unit for (topic, queue) wakes ONE parked
 * receive per group of that topic (each group gets every message; waking every receive of a
 * group would be a thundering herd for one message). A lease that expires wakes one receive
 * of its group. Each waiter also re-checks on its own after SAFETY_RECHECK_MS, so a wake
 * spent on a receive whose filter did not match strands no one for long.
 */

export const SAFETY_RECHECK_MS = 1_000;

interface Waiter {
  group: string;
  /** Only this queue, or any (-1). */
  queueId: number;
  wake: () => void;
}

export class PopLongPollingService {
  /** topic -> group -> waiters, oldest first. */
  private readonly waiters = new Map<string, Map<string, Waiter[]>>();
  /** Bumped on every arrival or release per topic: a receive compares it before and after its read. */
  private readonly versions = new Map<string, number>();

  version(topic: string): number {
    return this.versions.get(topic) ?? 0;
  }

  /**
   * Resolves true when woken, false after `ms` (capped at SAFETY_RECHECK_MS by the caller's
   * loop) or at once when `signal` aborts (the receive's client left: it is no waiter any more).
   */
  park(topic: string, group: string, queueId: number, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let byGroup = this.waiters.get(topic);
      if (!byGroup) {
        byGroup = new Map();
        this.waiters.set(topic, byGroup);
      }
      let list = byGroup.get(group);
      if (!list) {
        list = [];
        byGroup.set(group, list);
      }
      const waiter: Waiter = {
        group,
        queueId,
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', gone);
          resolve(true);
        },
      };
      list.push(waiter);
      const gone = () => {
        clearTimeout(timer);
        this.remove(topic, waiter);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', gone);
        this.remove(topic, waiter);
        resolve(false);
      }, ms);
      if (signal?.aborted) gone();
      else signal?.addEventListener('abort', gone, { once: true });
    });
  }

  /** A message arrived in (topic, queueId): one waiter of each group. */
  notifyMessageArriving(topic: string, queueId: number): void {
    this.bump(topic);
    const byGroup = this.waiters.get(topic);
    if (!byGroup) return;
    for (const group of [...byGroup.keys()]) this.wakeOne(topic, group, queueId);
  }

  /** A lease of (group, topic, queueId) ended without an ack, or an orderly queue was freed: one waiter of that group. */
  notifyReleased(topic: string, group: string, queueId: number): void {
    this.bump(topic);
    this.wakeOne(topic, group, queueId);
  }

  /** Waiters parked now (tests, metrics). */
  parked(): number {
    let n = 0;
    for (const byGroup of this.waiters.values()) for (const list of byGroup.values()) n += list.length;
    return n;
  }

  /** Wakes everyone (shutdown): each answers what it has. */
  wakeAll(): void {
    for (const byGroup of this.waiters.values()) for (const list of byGroup.values()) for (const w of list.splice(0)) w.wake();
    this.waiters.clear();
  }

  private wakeOne(topic: string, group: string, queueId: number): void {
    const w = this.waiters
      .get(topic)
      ?.get(group)
      ?.find((x) => x.queueId < 0 || x.queueId === queueId);
    if (!w) return;
    this.remove(topic, w);
    w.wake();
  }

  private remove(topic: string, waiter: Waiter): void {
    const byGroup = this.waiters.get(topic);
    const list = byGroup?.get(waiter.group);
    if (!byGroup || !list) return;
    const i = list.indexOf(waiter);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) byGroup.delete(waiter.group);
    if (byGroup.size === 0) this.waiters.delete(topic);
  }

  private bump(topic: string): void {
    this.versions.set(topic, (this.versions.get(topic) ?? 0) + 1);
  }
}
