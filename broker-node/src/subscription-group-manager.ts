/**
 * The consumer groups this broker serves (RocketMQ's SubscriptionGroupManager). The NameServer
 * holds the config; the broker asks it once per group (ensureGroup: a group is created on
 * first use) and keeps the answer for REFRESH_MS, so a POP costs no NameServer call.
 * Concurrent lookups of one group share one call. A config older than REFRESH_MS is asked
 * again; if the NameServer does not answer, the old config keeps serving (consumers of a
 * known group keep going through a NameServer outage) and the next use asks again.
 */
import { CirrusError, type NameServerApi, type SubscriptionGroupConfig, validateGroup } from '@cirrusmq/client/protocol';

/** How long a group's config is used before it is asked again (RocketMQ brokers sync theirs every 30 s too). */
const GROUP_REFRESH_MS = 30_000;
/** Groups remembered; beyond it the least recently loaded are forgotten (and asked again on use). */
const MAX_CACHED_GROUPS = 10_000;

interface Cached {
  config: SubscriptionGroupConfig;
  loadedAt: number;
}

export class SubscriptionGroupManager {
  private readonly subscriptionGroupTable = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<SubscriptionGroupConfig>>();

  constructor(
    private readonly nameServer: Pick<NameServerApi, 'ensureGroup'>,
    private readonly now: () => number = Date.now,
    private readonly refreshMs = GROUP_REFRESH_MS,
    private readonly maxGroups = MAX_CACHED_GROUPS,
  ) {}

  /** The cached config, without asking anyone (undefined if never loaded). */
  selectSubscriptionGroupConfig(group: string): SubscriptionGroupConfig | undefined {
    return this.subscriptionGroupTable.get(group)?.config;
  }

  /** The group's config, created at the NameServer with the defaults if it has none. INVALID_GROUP for a bad or reserved name. */
  async getOrCreate(group: string): Promise<SubscriptionGroupConfig> {
    validateGroup(group);
    const cached = this.subscriptionGroupTable.get(group);
    if (cached && this.now() - cached.loadedAt < this.refreshMs) return cached.config;
    let lookup = this.inflight.get(group);
    if (!lookup) {
      lookup = this.load(group).finally(() => this.inflight.delete(group));
      this.inflight.set(group, lookup);
    }
    try {
      return await lookup;
    } catch (e) {
      // A stale config beats none while the NameServer is away; bad input is not an outage.
      if (cached && !(e instanceof CirrusError && !e.retriable)) return cached.config;
      throw e;
    }
  }

  private async load(group: string): Promise<SubscriptionGroupConfig> {
    const config = await this.nameServer.ensureGroup(group);
    this.subscriptionGroupTable.delete(group); // re-inserted last: the Map's order is load order
    this.subscriptionGroupTable.set(group, { config, loadedAt: this.now() });
    if (this.subscriptionGroupTable.size > this.maxGroups) {
      const oldest = this.subscriptionGroupTable.keys().next().value as string;
      this.subscriptionGroupTable.delete(oldest);
    }
    return config;
  }
}
