/** An in-memory NameServerApi for broker unit tests: topics per broker, registrations recorded. */
import {
  type BrokerRegistration,
  CirrusError,
  type ClusterBrokerInfo,
  type CreateTopicRequest,
  GroupDefaults,
  type NameServerApi,
  Perm,
  type PutGroupRequest,
  type RegisterBrokerResult,
  type SubscriptionGroupConfig,
  type TopicInfo,
  type TopicRouteData,
} from '@cirrusmq/client/protocol';

export class FakeNameServer implements NameServerApi {
  readonly topics = new Map<string, TopicInfo>();
  readonly registrations: BrokerRegistration[] = [];
  readonly unregistrations: { clusterName: string; brokerName: string; brokerId: number }[] = [];
  readonly groups = new Map<string, SubscriptionGroupConfig>();
  getTopicCalls = 0;
  ensureGroupCalls = 0;
  /** Makes ensureGroup wait, to observe coalescing. */
  ensureGroupDelayMs = 0;
  /** Registrations to fail before one succeeds (register retry tests). */
  failRegistrations = 0;
  /** Makes getTopic wait, to observe coalescing. */
  getTopicDelayMs = 0;

  addTopic(topic: string, queues: number, brokerName = 'broker-a', read = queues): void {
    this.topics.set(topic, {
      topic,
      queues,
      createdAt: 1,
      brokers: [{ brokerName, readQueueNums: read, writeQueueNums: queues, perm: Perm.READ_WRITE }],
    });
  }

  async registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult> {
    if (this.failRegistrations > 0) {
      this.failRegistrations--;
      throw new CirrusError('NAMESERVER_UNAVAILABLE', 'fake NameServer down');
    }
    this.registrations.push(reg);
    const topics = [...this.topics.values()].flatMap((t) =>
      t.brokers
        .filter((b) => b.brokerName === reg.brokerName)
        .map((b) => ({ topic: t.topic, readQueueNums: b.readQueueNums, writeQueueNums: b.writeQueueNums, perm: b.perm, order: false })),
    );
    return { topics, expiresAtMs: Date.now() + (reg.heartbeatTimeoutMs ?? 120_000) };
  }

  async unregisterBroker(clusterName: string, brokerName: string, brokerId: number): Promise<void> {
    this.unregistrations.push({ clusterName, brokerName, brokerId });
  }

  async getRouteInfoByTopic(topic: string): Promise<TopicRouteData> {
    const t = this.topics.get(topic);
    if (!t) throw new CirrusError('TOPIC_NOT_FOUND', `no topic ${topic}`);
    return { topic, queueDatas: t.brokers, brokerDatas: [], filterServerTable: {} };
  }

  async createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }> {
    const created = !this.topics.has(req.topic);
    if (created) this.addTopic(req.topic, req.queues);
    return { created, topic: this.topics.get(req.topic)! };
  }

  async getTopic(topic: string): Promise<TopicInfo> {
    this.getTopicCalls++;
    if (this.getTopicDelayMs > 0) await new Promise((r) => setTimeout(r, this.getTopicDelayMs));
    const t = this.topics.get(topic);
    if (!t) throw new CirrusError('TOPIC_NOT_FOUND', `no topic ${topic}`);
    return t;
  }

  async listTopics(): Promise<TopicInfo[]> {
    return [...this.topics.values()];
  }

  async deleteTopic(topic: string): Promise<void> {
    this.topics.delete(topic);
  }

  async getCluster(): Promise<ClusterBrokerInfo[]> {
    return [];
  }

  async getGroup(group: string): Promise<SubscriptionGroupConfig> {
    const g = this.groups.get(group);
    if (!g) throw new CirrusError('GROUP_NOT_FOUND', `no group ${group}`);
    return { ...g };
  }

  async ensureGroup(group: string): Promise<SubscriptionGroupConfig> {
    this.ensureGroupCalls++;
    if (this.ensureGroupDelayMs > 0) await new Promise((r) => setTimeout(r, this.ensureGroupDelayMs));
    if (!this.groups.has(group)) await this.putGroup(group, {});
    return { ...this.groups.get(group)! };
  }

  async putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }> {
    const current = this.groups.get(group);
    const next: SubscriptionGroupConfig = {
      group,
      retryMaxTimes: req.retryMaxTimes ?? current?.retryMaxTimes ?? GroupDefaults.RETRY_MAX_TIMES,
      orderly: req.orderly ?? current?.orderly ?? GroupDefaults.ORDERLY,
      consumeFrom: req.consumeFrom ?? current?.consumeFrom ?? GroupDefaults.CONSUME_FROM,
      createdAt: current?.createdAt ?? Date.now(),
    };
    this.groups.set(group, next);
    return { created: !current, group: { ...next } };
  }

  async listGroups(): Promise<SubscriptionGroupConfig[]> {
    return [...this.groups.values()].map((g) => ({ ...g }));
  }

  async deleteGroup(group: string): Promise<void> {
    if (!this.groups.delete(group)) throw new CirrusError('GROUP_NOT_FOUND', `no group ${group}`);
  }
}
