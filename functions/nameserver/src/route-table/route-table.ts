/**
 * The NameServer's state, after RocketMQ's RouteInfoManager: which brokers are alive
 * (brokerLiveTable, brokerAddrTable, clusterAddrTable) and which topics live on which
 * brokers (topicQueueTable). One interface, two stores (embedded and DynamoDB), one
 * contract test suite (test/contract) that both pass.
 *
 * Liveness is a deadline, not a flag: a broker is alive while expiresAtMs > now(). Stores
 * may keep expired items for a while (DynamoDB's TTL deletes late), so every read filters.
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

export type Clock = () => number;

export interface RouteTable {
  /** Register or heartbeat: upserts the broker and answers the topics on its brokerName. */
  registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult>;
  unregisterBroker(cluster: string, brokerName: string, brokerId: number): Promise<void>;
  /** Every broker the store still holds, expired ones with alive:false. */
  listBrokers(): Promise<ClusterBrokerInfo[]>;
  /** undefined when the topic has no config; otherwise only live brokers' queues. */
  getTopicRoute(topic: string): Promise<TopicRouteData | undefined>;
  /**
   * Creates the topic on every live master of the cluster (or of all clusters).
   * Idempotent for the same queue count, which also adds the topic to masters that joined
   * since; TOPIC_EXISTS for another count; NO_LIVE_BROKER when a new topic has nowhere to go.
   */
  createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }>;
  getTopic(topic: string): Promise<TopicInfo | undefined>;
  listTopics(): Promise<TopicInfo[]>;
  /** false when there was no such topic. */
  deleteTopic(topic: string): Promise<boolean>;
  /** Consumer groups (RocketMQ's subscriptionGroupTable): durable config, no broker state. */
  getGroup(group: string): Promise<SubscriptionGroupConfig | undefined>;
  /** Creates (fields over the defaults) or updates (absent fields kept, createdAt kept). */
  putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }>;
  /** The group, created with the defaults if absent; concurrent calls agree on one config (one createdAt). */
  ensureGroup(group: string): Promise<SubscriptionGroupConfig>;
  /** Sorted by name. */
  listGroups(): Promise<SubscriptionGroupConfig[]>;
  /** false when there was no such group. */
  deleteGroup(group: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface RouteTableOptions {
  /** Injected so tests move time instead of sleeping. */
  readonly now?: Clock;
  /** Expiry for registrations without heartbeatTimeoutMs (default 120 s, as RocketMQ). */
  readonly defaultBrokerExpiryMs?: number;
}

export const DEFAULT_BROKER_EXPIRY_MS = 120_000;
