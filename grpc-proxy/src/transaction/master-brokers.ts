/**
 * The cluster's live master brokers, from the NameServer at most every `ttlMs`: a commit names
 * its broker by name (the transaction id) and the check-back polls go to every master, and
 * neither should cost a NameServer call each.
 */
import type { ClusterBrokerInfo, NameServerApi } from '@cirrusmq/client/protocol';

export class MasterBrokers {
  private cached: { at: number; brokers: Promise<ClusterBrokerInfo[]> } | undefined;

  constructor(
    private readonly nameServer: NameServerApi,
    private readonly ttlMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  list(fresh = false): Promise<ClusterBrokerInfo[]> {
    if (fresh || !this.cached || this.now() - this.cached.at > this.ttlMs) {
      const brokers = this.nameServer.getCluster().then((all) => all.filter((b) => b.alive && b.brokerId === 0));
      const entry = { at: this.now(), brokers };
      this.cached = entry;
      // A failed lookup is not kept: the next caller asks again.
      brokers.catch(() => {
        if (this.cached === entry) this.cached = undefined;
      });
    }
    return this.cached.brokers;
  }

  /** The address of master `brokerName`, asking the NameServer again when the cached list lacks it. */
  async addrOf(brokerName: string): Promise<string | undefined> {
    const find = async (fresh: boolean) => (await this.list(fresh)).find((b) => b.brokerName === brokerName)?.addr;
    return (await find(false)) ?? (await find(true));
  }
}
