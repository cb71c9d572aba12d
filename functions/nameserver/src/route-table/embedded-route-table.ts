/**
 * The RouteTable for one machine, no AWS: brokers in memory (they re-register within a
 * heartbeat after a restart, as with RocketMQ's NameServer), topic config in a JSON file.
 * Expired brokers are deleted by a periodic sweep (RocketMQ's scanNotActiveBroker), and
 * reads filter them too, so a broker is dead the moment its deadline passes, not at the
 * next sweep. Consumer groups live in their own file (groups.json), saved the same way.
 */
import type {
  BrokerRegistration,
  ClusterBrokerInfo,
  CreateTopicRequest,
  PutGroupRequest,
  RegisterBrokerResult,
  SubscriptionGroupConfig,
  TopicInfo,
  TopicRouteData,
} from '@cirrusmq/client/protocol';
import { groupFilePath, loadGroupFile, saveGroupFile } from './group-file';
import { newGroupConfig, sortGroups, updatedGroupConfig } from './group-records';
import {
  brokerRecordFrom,
  buildTopicRoute,
  isAlive,
  isLiveMaster,
  planCreateTopic,
  sortBrokerInfos,
  toClusterBrokerInfo,
  toTopicConfig,
  toTopicInfo,
  type BrokerRecord,
} from './route-records';
import { DEFAULT_BROKER_EXPIRY_MS, type Clock, type RouteTable, type RouteTableOptions } from './route-table';
import { loadTopicFile, saveTopicFile, topicFilePath, type StoredTopic } from './topic-file';

export interface EmbeddedRouteTableOptions extends RouteTableOptions {
  readonly dataDir: string;
  /** Sweep period (default 10 s, as RocketMQ). */
  readonly sweepIntervalMs?: number;
}

export class EmbeddedRouteTable implements RouteTable {
  private readonly brokers = new Map<string, BrokerRecord>();
  private readonly topics = new Map<string, StoredTopic>();
  private readonly groups = new Map<string, SubscriptionGroupConfig>();
  private readonly groupFile: string;
  private readonly now: Clock;
  private readonly defaultExpiryMs: number;
  private readonly file: string;
  private readonly timer: NodeJS.Timeout;
  /** Saves run one after another so an older snapshot never lands after a newer one. */
  private saving: Promise<void> = Promise.resolve();
  private savingGroups: Promise<void> = Promise.resolve();

  static async open(options: EmbeddedRouteTableOptions): Promise<EmbeddedRouteTable> {
    const file = topicFilePath(options.dataDir);
    const groupFile = groupFilePath(options.dataDir);
    return new EmbeddedRouteTable(options, file, await loadTopicFile(file), groupFile, await loadGroupFile(groupFile));
  }

  private constructor(options: EmbeddedRouteTableOptions, file: string, stored: StoredTopic[], groupFile: string, storedGroups: SubscriptionGroupConfig[]) {
    this.now = options.now ?? Date.now;
    this.defaultExpiryMs = options.defaultBrokerExpiryMs ?? DEFAULT_BROKER_EXPIRY_MS;
    this.file = file;
    for (const t of stored) this.topics.set(t.config.topic, t);
    this.groupFile = groupFile;
    for (const g of storedGroups) this.groups.set(g.group, g);
    this.timer = setInterval(() => this.scanNotActiveBroker(), options.sweepIntervalMs ?? 10_000);
    // The sweep is housekeeping; it must not keep a process (or a test run) alive.
    this.timer.unref();
  }

  /** Deletes brokers whose deadline has passed; answers how many. */
  scanNotActiveBroker(): number {
    const now = this.now();
    let removed = 0;
    for (const [key, b] of this.brokers) {
      if (!isAlive(b, now)) {
        this.brokers.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Whether the store still holds the broker's entry, alive or not (for tests). */
  hasBrokerEntry(cluster: string, brokerName: string, brokerId: number): boolean {
    return this.brokers.has(brokerKey(cluster, brokerName, brokerId));
  }

  async registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult> {
    const rec = brokerRecordFrom(reg, this.now(), this.defaultExpiryMs);
    this.brokers.set(brokerKey(rec.cluster, rec.brokerName, rec.brokerId), rec);
    const topics = [];
    for (const t of this.topics.values()) {
      const on = t.onBrokers.find((r) => r.brokerName === rec.brokerName);
      if (on) topics.push(toTopicConfig(on));
    }
    topics.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    return { topics, expiresAtMs: rec.expiresAtMs };
  }

  async unregisterBroker(cluster: string, brokerName: string, brokerId: number): Promise<void> {
    this.brokers.delete(brokerKey(cluster, brokerName, brokerId));
  }

  async listBrokers(): Promise<ClusterBrokerInfo[]> {
    const now = this.now();
    return sortBrokerInfos([...this.brokers.values()].map((b) => toClusterBrokerInfo(b, now)));
  }

  async getTopicRoute(topic: string): Promise<TopicRouteData | undefined> {
    const t = this.topics.get(topic);
    if (!t) return undefined;
    return buildTopicRoute(topic, t.onBrokers, [...this.brokers.values()], this.now());
  }

  async createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }> {
    const now = this.now();
    const masters = [...this.brokers.values()].filter((b) => isLiveMaster(b, now) && (req.cluster === undefined || b.cluster === req.cluster));
    const existing = this.topics.get(req.topic);
    const plan = planCreateTopic(req, existing, masters, now);
    if (plan.kind === 'existing' && plan.add.length === 0) {
      return { created: false, topic: toTopicInfo(existing!.config, existing!.onBrokers) };
    }
    const next: StoredTopic = { config: plan.config, onBrokers: [...(existing?.onBrokers ?? []), ...plan.add] };
    this.topics.set(req.topic, next);
    await this.persist();
    return { created: plan.kind === 'new', topic: toTopicInfo(next.config, next.onBrokers) };
  }

  async getTopic(topic: string): Promise<TopicInfo | undefined> {
    const t = this.topics.get(topic);
    return t && toTopicInfo(t.config, t.onBrokers);
  }

  async listTopics(): Promise<TopicInfo[]> {
    return [...this.topics.values()].map((t) => toTopicInfo(t.config, t.onBrokers)).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  }

  async deleteTopic(topic: string): Promise<boolean> {
    if (!this.topics.delete(topic)) return false;
    await this.persist();
    return true;
  }

  async getGroup(group: string): Promise<SubscriptionGroupConfig | undefined> {
    const g = this.groups.get(group);
    return g && { ...g };
  }

  async putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }> {
    const current = this.groups.get(group);
    const next = current ? updatedGroupConfig(current, req) : newGroupConfig(group, req, this.now());
    this.groups.set(group, next);
    await this.persistGroups();
    return { created: !current, group: { ...next } };
  }

  async ensureGroup(group: string): Promise<SubscriptionGroupConfig> {
    const current = this.groups.get(group);
    if (current) {
      // Its creation may still be on its way to disk: answer only what a restart would keep.
      await this.savingGroups.catch(() => {});
      return { ...current };
    }
    // Decided synchronously (no await before the set): concurrent calls see one config.
    const created = newGroupConfig(group, {}, this.now());
    this.groups.set(group, created);
    await this.persistGroups();
    return { ...created };
  }

  async listGroups(): Promise<SubscriptionGroupConfig[]> {
    return sortGroups([...this.groups.values()].map((g) => ({ ...g })));
  }

  async deleteGroup(group: string): Promise<boolean> {
    if (!this.groups.delete(group)) return false;
    await this.persistGroups();
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.saving, this.savingGroups]);
  }

  private persistGroups(): Promise<void> {
    const snapshot = [...this.groups.values()];
    const next = this.savingGroups.catch(() => {}).then(() => saveGroupFile(this.groupFile, snapshot));
    this.savingGroups = next;
    return next;
  }

  private persist(): Promise<void> {
    // Snapshot now, in mutation order; the write itself waits for the previous one.
    const snapshot = [...this.topics.values()];
    const next = this.saving.catch(() => {}).then(() => saveTopicFile(this.file, snapshot));
    this.saving = next;
    return next;
  }
}

function brokerKey(cluster: string, brokerName: string, brokerId: number): string {
  return `${cluster}\u0000${brokerName}\u0000${brokerId}`;
}
