/**
 * auto_renew, RocketMQ's DefaultReceiptHandleManager: a PushConsumer's receive sends no
 * invisible duration and expects the proxy to keep each message's lease alive while the
 * message waits in the client's cache or its listener. The proxy holds the handle the client
 * got, renews the lease shortly before it ends (a change-invisibility, which gives a new
 * handle) and, when the client acks, nacks or forwards, swaps in the latest handle.
 *
 * A renewal stops when the client's session is gone (its Telemetry stream closed, or it said
 * NotifyClientTermination): the lease then ends at its invisibility and the message goes to
 * another consumer; and after MAX_HOLD_MS (Apache's renewMaxTimeMillis, 3 h), past which a
 * listener is taken to be stuck. This is the proxy's only consume state: a client whose
 * connection moves to another proxy keeps its handles, which then expire and are redelivered.
 */
import { type BrokerClients, type Logger, receiptHandleBroker } from '@cirrusmq/client/protocol';

export interface RenewerOptions {
  /** The lease each renewal asks for (AUTO_RENEW_INVISIBLE_MS). */
  invisibleMs: number;
  /** A lease is renewed when it has less than this left (Apache's renewAheadTimeMillis, 10 s). */
  aheadMs?: number;
  /** How often due leases are looked for (Apache's renewSchedulePeriodMillis, 5 s). */
  periodMs?: number;
  maxHoldMs?: number;
  now?: () => number;
}

interface HeldLease {
  addr: string;
  topic: string;
  group: string;
  clientId: string;
  /** The handle to use now (the client's own until the first renewal). */
  latest: string;
  deadline: number;
  heldSince: number;
  /** A renewal in flight: a take waits for it, so the handle it returns is the one that works. */
  renewing?: Promise<void>;
}

export const MAX_HOLD_MS = 3 * 3_600_000;

export class LeaseRenewer {
  /** By the handle the client holds. */
  private readonly held = new Map<string, HeldLease>();
  private readonly aheadMs: number;
  private readonly periodMs: number;
  private readonly maxHoldMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly brokers: BrokerClients,
    private readonly isClientAlive: (clientId: string) => boolean,
    private readonly logger: Logger,
    private readonly options: RenewerOptions,
  ) {
    this.aheadMs = options.aheadMs ?? 10_000;
    this.periodMs = options.periodMs ?? 5_000;
    this.maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.held.size;
  }

  /** Keeps the leases of `handles` (just given to `clientId` with invisibleMs) alive until taken. */
  hold(clientId: string, addr: string, topic: string, group: string, handles: readonly string[]): void {
    const now = this.now();
    for (const h of handles) this.held.set(h, { addr, topic, group, clientId, latest: h, deadline: now + this.options.invisibleMs, heldSince: now });
    if (!this.timer && this.held.size > 0) {
      this.timer = setInterval(() => void this.renewDue(), this.periodMs);
      this.timer.unref();
    }
  }

  /** The handle that works now for the one the client holds (itself when not held); renewing it stops. */
  async take(clientHandle: string): Promise<string> {
    const lease = this.held.get(clientHandle);
    if (!lease) return clientHandle;
    this.held.delete(clientHandle);
    if (lease.renewing) await lease.renewing;
    return lease.latest;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.held.clear();
  }

  /** One pass: every lease close to its end is renewed, one broker request per broker, topic and group. */
  async renewDue(): Promise<void> {
    const now = this.now();
    const batches = new Map<string, [string, HeldLease][]>();
    for (const [clientHandle, lease] of this.held) {
      if (lease.renewing || lease.deadline - now > this.aheadMs) continue;
      if (!this.isClientAlive(lease.clientId) || now - lease.heldSince >= this.maxHoldMs || lease.deadline <= now) {
        // Left to end at its invisibility: the message goes to another consumer.
        this.held.delete(clientHandle);
        continue;
      }
      const key = `${lease.addr}\u0000${lease.topic}\u0000${lease.group}`;
      const batch = batches.get(key);
      if (batch) batch.push([clientHandle, lease]);
      else batches.set(key, [[clientHandle, lease]]);
    }
    await Promise.all([...batches.values()].flatMap((batch) => chunks(batch, 100).map((chunk) => this.renew(chunk))));
    if (this.held.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private renew(chunk: [string, HeldLease][]): Promise<void> {
    const { addr, topic, group } = chunk[0]![1];
    const invisibleMs = this.options.invisibleMs;
    const p = (async () => {
      try {
        const entries = chunk.map(([, l]) => ({ receiptHandle: l.latest, invisibleMs }));
        const at = this.now();
        const { results } = await this.brokers.get(addr).changeInvisibility({ topic, group, entries });
        chunk.forEach(([clientHandle, lease], i) => {
          const r = results[i];
          if (r?.status === 'OK') {
            lease.latest = r.receiptHandle;
            lease.deadline = at + invisibleMs;
          } else if (this.held.get(clientHandle) === lease) {
            // Ended already (acked elsewhere, expired): nothing left to renew.
            this.held.delete(clientHandle);
          }
        });
      } catch (e) {
        // Tried again next pass while the lease lasts.
        this.logger.warn('lease renewal failed', { topic, group, broker: receiptHandleBroker(chunk[0]![1].latest), count: chunk.length, err: String(e) });
      }
    })();
    for (const [, lease] of chunk) lease.renewing = p;
    return p.finally(() => {
      for (const [, lease] of chunk) if (lease.renewing === p) lease.renewing = undefined;
    });
  }
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
