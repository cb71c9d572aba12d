/**
 * Producer groups' check URLs shared between brokers. A group's check URL is registered with
 * the brokers alive at its PUT (the gateway's PUT /v1/producer-groups/{group}); a broker that
 * joins later, or was down then, would never call it, and its half messages of that group
 * would be rolled back after the last unanswered check. So each broker asks its peers (the
 * cluster's live masters, from the NameServer) for their groups soon after it starts and every
 * `intervalMs` after, and adopts the groups it has never been told of
 * (TransactionalMessageCheckService.adoptGroups: what it was told itself is never overridden).
 * RocketMQ has no such step: its check-backs go to any live producer of the group, which an
 * HTTP producer group with a URL does not have.
 */
import { BrokerClients, type ClusterBrokerInfo, type Logger } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../periodic-service';

export interface ProducerGroupSyncDeps {
  brokerName: string;
  /** The cluster's brokers (the NameServer's view). */
  getCluster(): Promise<ClusterBrokerInfo[]>;
  adoptGroups(records: readonly { group: string; checkUrl: string | null }[]): Promise<string[]>;
  logger: Logger;
  intervalMs: number;
}

export class ProducerGroupSync extends PeriodicService {
  private readonly brokers = new BrokerClients();

  constructor(private readonly deps: ProducerGroupSyncDeps) {
    super('ProducerGroupSync', deps.intervalMs, async () => void (await this.syncOnce()), deps.logger);
  }

  /** One round over the live peers; a peer that does not answer is skipped until the next. The groups adopted. */
  async syncOnce(): Promise<string[]> {
    const peers = (await this.deps.getCluster()).filter((b) => b.alive && b.brokerId === 0 && b.brokerName !== this.deps.brokerName);
    const adopted: string[] = [];
    for (const peer of peers) {
      let groups: { group: string; checkUrl: string | null }[];
      try {
        groups = await this.brokers.get(peer.addr).producerGroups();
      } catch (e) {
        this.deps.logger.warn('producer groups of a peer not read', { peer: peer.brokerName, err: e instanceof Error ? e.message : String(e) });
        continue;
      }
      const taken = await this.deps.adoptGroups(groups);
      if (taken.length > 0) this.deps.logger.info('producer groups adopted from a peer', { peer: peer.brokerName, groups: taken });
      adopted.push(...taken);
    }
    return adopted;
  }

  override async shutdown(): Promise<void> {
    await super.shutdown();
    this.brokers.close();
  }
}
