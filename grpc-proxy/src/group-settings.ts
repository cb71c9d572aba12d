/**
 * Consumer groups' settings (orderly, retryMaxTimes) as the NameServer keeps them, cached
 * for `ttlMs`: Telemetry, QueryAssignment and the consumer RPCs ask per call. A group is
 * created with the defaults on first use, as RocketMQ's autoCreateSubscriptionGroup does.
 */
import type { NameServerApi, SubscriptionGroupConfig } from '@cirrusmq/client/protocol';

interface Entry {
  config: SubscriptionGroupConfig;
  fetchedAt: number;
}

export class GroupSettings {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<SubscriptionGroupConfig>>();

  constructor(
    private readonly nameServer: NameServerApi,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(group: string): Promise<SubscriptionGroupConfig> {
    const entry = this.entries.get(group);
    if (entry && this.now() - entry.fetchedAt < this.ttlMs) return entry.config;
    let p = this.inflight.get(group);
    if (!p) {
      p = this.nameServer.ensureGroup(group).then(
        (config) => {
          this.entries.set(group, { config, fetchedAt: this.now() });
          this.inflight.delete(group);
          return config;
        },
        (e) => {
          this.inflight.delete(group);
          // A NameServer outage does not stop consumers that were configured before it.
          if (entry) return entry.config;
          throw e;
        },
      );
      this.inflight.set(group, p);
    }
    return p;
  }
}
