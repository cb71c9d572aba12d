/**
 * Check-backs for the gRPC producers (RocketMQ's RecoverOrphanedTransactionCommand). While
 * at least one producer of a group has its Telemetry stream here, the proxy keeps one long
 * poll (GET /v1/transaction/checks) per live master broker for that group, and writes each
 * check it gets on the stream of one of the group's producers, round robin (Apache's broker
 * also picks one channel of the group). The client's TransactionChecker answers with
 * EndTransaction. A check that finds no producer left is dropped: the broker offers it again
 * at its next interval, and rolls it back after the last one, so nothing here needs to last.
 * Polls are per group, not per client: many producers of a topic cost one poll per broker.
 */
import { type BrokerClients, type BrokerTransactionCheck, type Logger, toCirrusError } from '@cirrusmq/client/protocol';
import { recoverCommandOf } from './check-command.js';
import type { MasterBrokers } from './master-brokers.js';

/** Writes a command on a client's Telemetry stream; false when the client has none any more. */
export type CommandSink = (clientId: string, command: object) => boolean;

export interface TransactionChecksOptions {
  /** One long poll's wait on a broker (the broker caps it at 30 s). */
  waitMs?: number;
  /** How often the set of brokers polled follows the cluster. */
  refreshMs?: number;
  /** Pause after a failed poll (a broker down or restarting). */
  retryMs?: number;
  /** Each check taken from a broker (metrics). */
  onCheck?: (result: 'forwarded' | 'dropped') => void;
}

interface GroupPoll {
  clients: string[];
  next: number;
  loops: Map<string, AbortController>;
}

export class TransactionChecks {
  private readonly groups = new Map<string, GroupPoll>();
  private readonly groupsOfClient = new Map<string, Set<string>>();
  private readonly waitMs: number;
  private readonly refreshMs: number;
  private readonly retryMs: number;
  private readonly onCheck: (result: 'forwarded' | 'dropped') => void;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Checks written to a client's stream, and checks no producer of their group was there for. */
  forwarded = 0;
  dropped = 0;

  constructor(
    private readonly masters: MasterBrokers,
    /** Check polls park up to waitMs: a pool apart from the calls that must not wait behind them. */
    private readonly brokers: BrokerClients,
    private readonly sink: CommandSink,
    private readonly logger: Logger,
    options: TransactionChecksOptions = {},
  ) {
    this.waitMs = options.waitMs ?? 20_000;
    this.refreshMs = options.refreshMs ?? 10_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.onCheck = options.onCheck ?? (() => {});
  }

  /** The client produces to these groups' topics (its settings, or a transactional send): it may be asked to check. */
  watch(clientId: string, groups: Iterable<string>): void {
    if (this.closed) return;
    let mine = this.groupsOfClient.get(clientId);
    for (const group of groups) {
      if (mine?.has(group)) continue;
      if (!mine) this.groupsOfClient.set(clientId, (mine = new Set()));
      mine.add(group);
      let g = this.groups.get(group);
      if (!g) {
        this.groups.set(group, (g = { clients: [], next: 0, loops: new Map() }));
        void this.follow(group, g);
      }
      g.clients.push(clientId);
    }
    this.scheduleRefresh();
  }

  /** The client's stream ended or it terminated: a group left with no producer stops its polls. */
  unwatch(clientId: string): void {
    const mine = this.groupsOfClient.get(clientId);
    if (!mine) return;
    this.groupsOfClient.delete(clientId);
    for (const group of mine) {
      const g = this.groups.get(group);
      if (!g) continue;
      g.clients = g.clients.filter((c) => c !== clientId);
      if (g.clients.length > 0) continue;
      this.groups.delete(group);
      for (const abort of g.loops.values()) abort.abort();
    }
    if (this.groups.size === 0) clearTimeout(this.refreshTimer);
  }

  /** Long polls open now (group × broker), for tests and metrics. */
  get polls(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.loops.size;
    return n;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    for (const clientId of [...this.groupsOfClient.keys()]) this.unwatch(clientId);
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer || this.groups.size === 0) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      for (const [group, g] of this.groups) void this.follow(group, g, true);
      this.scheduleRefresh();
    }, this.refreshMs);
    this.refreshTimer.unref();
  }

  /** Starts a loop on each master not yet polled for the group, and stops those on brokers gone. */
  private async follow(group: string, g: GroupPoll, fresh = false): Promise<void> {
    let addrs: Set<string>;
    try {
      addrs = new Set((await this.masters.list(fresh)).map((b) => b.addr));
    } catch (e) {
      this.logger.warn('transaction checks: broker list unavailable', { group, err: toCirrusError(e).message });
      return;
    }
    if (this.groups.get(group) !== g) return;
    for (const [addr, abort] of g.loops) {
      if (addrs.has(addr)) continue;
      abort.abort();
      g.loops.delete(addr);
    }
    for (const addr of addrs) {
      if (g.loops.has(addr)) continue;
      const abort = new AbortController();
      g.loops.set(addr, abort);
      void this.pollLoop(group, g, addr, abort.signal);
    }
  }

  private async pollLoop(group: string, g: GroupPoll, addr: string, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const checks = await this.brokers.get(addr).transactionChecks(group, this.waitMs, signal);
        failures = 0;
        for (const check of checks) this.dispatch(group, g, check);
      } catch (e) {
        if (signal.aborted) return;
        // A broker down logs once per outage, not once a second.
        if (failures++ === 0) this.logger.warn('transaction checks: poll failed', { group, broker: addr, err: toCirrusError(e).message });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.retryMs);
          timer.unref();
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
  }

  private dispatch(group: string, g: GroupPoll, check: BrokerTransactionCheck): void {
    const command = recoverCommandOf(check);
    for (let tries = 0; tries < g.clients.length; tries++) {
      const clientId = g.clients[g.next++ % g.clients.length]!;
      if (this.sink(clientId, command)) {
        this.forwarded++;
        this.onCheck('forwarded');
        return;
      }
    }
    this.dropped++;
    this.onCheck('dropped');
    this.logger.debug('transaction check with no producer connected: the broker offers it again', { group, transactionId: check.transactionId });
  }
}
