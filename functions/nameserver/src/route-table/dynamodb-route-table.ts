/**
 * The RouteTable over DynamoDB: the NameServer is stateless, so any number of Lambda
 * containers answer the same routes.
 *
 * Items (docs/architecture.md, "The NameServer table"; pk/sk strings):
 *   live broker      pk CLUSTER#{cluster}  sk BROKER#{brokerName}#{brokerId}
 *                    addr, haAddr, lastHeartbeatMs, startedAt, dataVersion, expiresAtMs,
 *                    expiresAt (epoch s, ceil: the TTL attribute)
 *   topic on broker  pk TOPIC#{topic}      sk BROKER#{brokerName}
 *                    readQueueNums, writeQueueNums, perm, order, cluster (durable)
 *   topic config     pk TOPIC#{topic}      sk CONFIG   queues, createdAt
 *   consumer group   pk GROUP#{group}      sk CONFIG   retryMaxTimes, orderly, consumeFrom
 *                    (string or number), createdAt; created only if absent (conditional),
 *                    so concurrent "ensure" calls agree on one createdAt
 * Additions to that table:
 *   - gsi1, an inverted index (partition key sk, sort key pk, all attributes): register
 *     finds a broker's topics with sk = BROKER#{brokerName} and pk begins_with TOPIC#,
 *     and listTopics reads sk = CONFIG; neither needs a Scan.
 *   - cluster registry pk CLUSTERS sk CLUSTER#{cluster}, written at a cluster's first
 *     register seen by this process, so listBrokers and createTopic without a cluster
 *     know which CLUSTER# partitions to query.
 *   - topic-on-broker items carry `cluster`, so a route lookup knows which cluster
 *     partitions hold the topic's brokers: one Query on TOPIC#t, then one per cluster.
 *
 * DynamoDB's TTL deletes expired brokers hours late and moto never does, so liveness is
 * always decided here, from expiresAtMs, on every read.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  BrokerRegistration,
  ClusterBrokerInfo,
  ConsumeFrom,
  CreateTopicRequest,
  PutGroupRequest,
  RegisterBrokerResult,
  SubscriptionGroupConfig,
  TopicInfo,
  TopicRouteData,
} from '@cirrusmq/client/protocol';
import { newGroupConfig, sortGroups } from './group-records';
import {
  brokerRecordFrom,
  buildTopicRoute,
  isLiveMaster,
  planCreateTopic,
  sortBrokerInfos,
  toClusterBrokerInfo,
  toTopicConfig,
  toTopicInfo,
  type BrokerRecord,
  type TopicBrokerRecord,
  type TopicConfigRecord,
} from './route-records';
import { DEFAULT_BROKER_EXPIRY_MS, type Clock, type RouteTable, type RouteTableOptions } from './route-table';
import { Keys, TableKeys } from './table-schema';

export interface DynamoDbRouteTableOptions extends RouteTableOptions {
  /** Owned by the route table: close() destroys it. */
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

type Item = Record<string, unknown>;
interface StoredTopic {
  config: TopicConfigRecord;
  onBrokers: TopicBrokerRecord[];
}

/** Parallel reads per listTopics, so a long topic list does not burst the table. */
const LIST_CONCURRENCY = 8;

export class DynamoDbRouteTable implements RouteTable {
  private readonly client: DynamoDBClient;
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly now: Clock;
  private readonly defaultExpiryMs: number;
  /** Clusters whose registry item this process has written: later heartbeats skip it. */
  private readonly registeredClusters = new Set<string>();

  constructor(options: DynamoDbRouteTableOptions) {
    this.client = options.client;
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = options.tableName;
    this.now = options.now ?? Date.now;
    this.defaultExpiryMs = options.defaultBrokerExpiryMs ?? DEFAULT_BROKER_EXPIRY_MS;
  }

  async registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult> {
    const rec = brokerRecordFrom(reg, this.now(), this.defaultExpiryMs);
    const [, , topicItems] = await Promise.all([
      this.doc.send(new PutCommand({ TableName: this.table, Item: brokerItem(rec) })),
      this.registerCluster(rec.cluster),
      this.queryAll({
        IndexName: TableKeys.GSI1,
        KeyConditionExpression: '#sk = :sk AND begins_with(#pk, :topic)',
        ExpressionAttributeNames: { '#sk': TableKeys.SK, '#pk': TableKeys.PK },
        ExpressionAttributeValues: { ':sk': Keys.topicBrokerSk(rec.brokerName), ':topic': Keys.TOPIC_PREFIX },
      }),
    ]);
    const topics = topicItems
      .map(topicBrokerFromItem)
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
      .map(toTopicConfig);
    return { topics, expiresAtMs: rec.expiresAtMs };
  }

  async unregisterBroker(cluster: string, brokerName: string, brokerId: number): Promise<void> {
    await this.doc.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { [TableKeys.PK]: Keys.clusterPk(cluster), [TableKeys.SK]: Keys.brokerSk(brokerName, brokerId) },
      }),
    );
  }

  async listBrokers(): Promise<ClusterBrokerInfo[]> {
    const now = this.now();
    const brokers = await this.brokersOf(await this.clusterNames());
    return sortBrokerInfos(brokers.map((b) => toClusterBrokerInfo(b, now)));
  }

  async getTopicRoute(topic: string): Promise<TopicRouteData | undefined> {
    const stored = await this.readTopic(topic);
    if (!stored) return undefined;
    const clusters = [...new Set(stored.onBrokers.map((r) => r.cluster))];
    return buildTopicRoute(topic, stored.onBrokers, await this.brokersOf(clusters), this.now());
  }

  async createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }> {
    const [existing, brokers] = await Promise.all([this.readTopic(req.topic), this.clusterNamesFor(req.cluster).then((names) => this.brokersOf(names))]);
    const now = this.now();
    const masters = brokers.filter((b) => isLiveMaster(b, now));
    let current = existing;
    let plan = planCreateTopic(req, current, masters, now);
    if (plan.kind === 'new') {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: configItem(plan.config),
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': TableKeys.PK },
          }),
        );
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
        // A concurrent create won the race: judge the request against its config instead.
        current = await this.readTopic(req.topic);
        plan = planCreateTopic(req, current, masters, now);
      }
    }
    await Promise.all(plan.add.map((r) => this.doc.send(new PutCommand({ TableName: this.table, Item: topicBrokerItem(r) }))));
    const onBrokers = [...(plan.kind === 'existing' ? (current?.onBrokers ?? []) : []), ...plan.add];
    return { created: plan.kind === 'new', topic: toTopicInfo(plan.config, onBrokers) };
  }

  async getTopic(topic: string): Promise<TopicInfo | undefined> {
    const stored = await this.readTopic(topic);
    return stored && toTopicInfo(stored.config, stored.onBrokers);
  }

  async listTopics(): Promise<TopicInfo[]> {
    const configs = await this.queryAll({
      IndexName: TableKeys.GSI1,
      KeyConditionExpression: '#sk = :config AND begins_with(#pk, :topic)',
      ExpressionAttributeNames: { '#sk': TableKeys.SK, '#pk': TableKeys.PK },
      ExpressionAttributeValues: { ':config': Keys.CONFIG_SK, ':topic': Keys.TOPIC_PREFIX },
    });
    const names = configs.map((i) => String(i.topic)).sort();
    const infos = await mapLimit(names, LIST_CONCURRENCY, (name) => this.getTopic(name));
    // A topic deleted between the index read and its own read is simply left out.
    return infos.filter((t): t is TopicInfo => t !== undefined);
  }

  async deleteTopic(topic: string): Promise<boolean> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TableKeys.PK, '#sk': TableKeys.SK },
      ExpressionAttributeValues: { ':pk': Keys.topicPk(topic) },
      ProjectionExpression: '#pk, #sk',
      ConsistentRead: true,
    });
    const exists = items.some((i) => i[TableKeys.SK] === Keys.CONFIG_SK);
    const del = (sk: unknown) => this.doc.send(new DeleteCommand({ TableName: this.table, Key: { [TableKeys.PK]: Keys.topicPk(topic), [TableKeys.SK]: sk } }));
    // Queue data first, config last: a crash in between leaves a topic that can be
    // deleted again, never queue data without a config that would resurface on re-create.
    await Promise.all(items.filter((i) => i[TableKeys.SK] !== Keys.CONFIG_SK).map((i) => del(i[TableKeys.SK])));
    if (exists) await del(Keys.CONFIG_SK);
    return exists;
  }

  async getGroup(group: string): Promise<SubscriptionGroupConfig | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: groupKey(group), ConsistentRead: true }));
    return Item && groupFromItem(Item);
  }

  async putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }> {
    // Create-if-absent, else update-if-present: each a conditional write, so a delete or a
    // create racing this call sends it round once more instead of losing a write.
    for (let attempt = 0; ; attempt++) {
      const created = await this.createGroupIfAbsent(newGroupConfig(group, req, this.now()));
      if (created) return { created: true, group: created };
      const updated = await this.updateGroupIfPresent(group, req);
      if (updated) return { created: false, group: updated };
      if (attempt >= 3) throw new Error(`group "${group}" kept changing under a put`);
    }
  }

  async ensureGroup(group: string): Promise<SubscriptionGroupConfig> {
    for (let attempt = 0; ; attempt++) {
      const existing = await this.getGroup(group);
      if (existing) return existing;
      const created = await this.createGroupIfAbsent(newGroupConfig(group, {}, this.now()));
      if (created) return created;
      // Another caller created it first: the next read answers its config (and createdAt).
      if (attempt >= 3) throw new Error(`group "${group}" kept changing under an ensure`);
    }
  }

  async listGroups(): Promise<SubscriptionGroupConfig[]> {
    const items = await this.queryAll({
      IndexName: TableKeys.GSI1,
      KeyConditionExpression: '#sk = :config AND begins_with(#pk, :group)',
      ExpressionAttributeNames: { '#sk': TableKeys.SK, '#pk': TableKeys.PK },
      ExpressionAttributeValues: { ':config': Keys.CONFIG_SK, ':group': Keys.GROUP_PREFIX },
    });
    return sortGroups(items.map(groupFromItem));
  }

  async deleteGroup(group: string): Promise<boolean> {
    const { Attributes } = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: groupKey(group), ReturnValues: 'ALL_OLD' }));
    return Attributes !== undefined;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** The config written, or undefined when the group exists already. */
  private async createGroupIfAbsent(config: SubscriptionGroupConfig): Promise<SubscriptionGroupConfig | undefined> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: groupItem(config),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TableKeys.PK },
        }),
      );
      return config;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return undefined;
      throw e;
    }
  }

  /** Sets the request's fields (createdAt untouched); undefined when the group does not exist. */
  private async updateGroupIfPresent(group: string, req: PutGroupRequest): Promise<SubscriptionGroupConfig | undefined> {
    const fields = GROUP_FIELDS.filter((k) => req[k] !== undefined).map((k) => [k, req[k]] as const);
    if (fields.length === 0) return this.getGroup(group);
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: groupKey(group),
          UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TableKeys.PK, ...Object.fromEntries(fields.map(([k], i) => [`#f${i}`, k])) },
          ExpressionAttributeValues: Object.fromEntries(fields.map(([, v], i) => [`:v${i}`, v])),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes && groupFromItem(Attributes);
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return undefined;
      throw e;
    }
  }

  private async registerCluster(cluster: string): Promise<void> {
    if (this.registeredClusters.has(cluster)) return;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { [TableKeys.PK]: Keys.CLUSTERS_PK, [TableKeys.SK]: Keys.clusterRegistrySk(cluster), cluster },
      }),
    );
    this.registeredClusters.add(cluster);
  }

  private async clusterNames(): Promise<string[]> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TableKeys.PK },
      ExpressionAttributeValues: { ':pk': Keys.CLUSTERS_PK },
      ConsistentRead: true,
    });
    return items.map((i) => String(i.cluster));
  }

  private async clusterNamesFor(cluster: string | undefined): Promise<string[]> {
    return cluster === undefined ? this.clusterNames() : [cluster];
  }

  /** Every broker item of these clusters, expired ones included: callers decide liveness. */
  private async brokersOf(clusters: readonly string[]): Promise<BrokerRecord[]> {
    const perCluster = await Promise.all(
      clusters.map((c) =>
        this.queryAll({
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :broker)',
          ExpressionAttributeNames: { '#pk': TableKeys.PK, '#sk': TableKeys.SK },
          ExpressionAttributeValues: { ':pk': Keys.clusterPk(c), ':broker': 'BROKER#' },
          ConsistentRead: true,
        }),
      ),
    );
    return perCluster.flat().map(brokerFromItem);
  }

  private async readTopic(topic: string): Promise<StoredTopic | undefined> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TableKeys.PK },
      ExpressionAttributeValues: { ':pk': Keys.topicPk(topic) },
      ConsistentRead: true,
    });
    const config = items.find((i) => i[TableKeys.SK] === Keys.CONFIG_SK);
    if (!config) return undefined;
    return {
      config: { topic, queues: Number(config.queues), createdAt: Number(config.createdAt) },
      onBrokers: items.filter((i) => i !== config).map(topicBrokerFromItem),
    };
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.doc.send(new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey: start }));
      out.push(...((page.Items ?? []) as Item[]));
      start = page.LastEvaluatedKey as Item | undefined;
    } while (start);
    return out;
  }
}

function brokerItem(b: BrokerRecord): Item {
  return {
    [TableKeys.PK]: Keys.clusterPk(b.cluster),
    [TableKeys.SK]: Keys.brokerSk(b.brokerName, b.brokerId),
    cluster: b.cluster,
    brokerName: b.brokerName,
    brokerId: b.brokerId,
    addr: b.addr,
    haAddr: b.haAddr,
    lastHeartbeatMs: b.lastHeartbeatMs,
    startedAt: b.startedAt,
    dataVersion: b.dataVersion,
    expiresAtMs: b.expiresAtMs,
    [TableKeys.TTL]: Math.ceil(b.expiresAtMs / 1000),
  };
}

function brokerFromItem(i: Item): BrokerRecord {
  return {
    cluster: String(i.cluster),
    brokerName: String(i.brokerName),
    brokerId: Number(i.brokerId),
    addr: String(i.addr),
    haAddr: i.haAddr === undefined ? undefined : String(i.haAddr),
    lastHeartbeatMs: Number(i.lastHeartbeatMs),
    startedAt: Number(i.startedAt),
    dataVersion: Number(i.dataVersion ?? 0),
    expiresAtMs: Number(i.expiresAtMs),
  };
}

function configItem(c: TopicConfigRecord): Item {
  return { [TableKeys.PK]: Keys.topicPk(c.topic), [TableKeys.SK]: Keys.CONFIG_SK, topic: c.topic, queues: c.queues, createdAt: c.createdAt };
}

const GROUP_FIELDS = ['retryMaxTimes', 'orderly', 'consumeFrom'] as const;

function groupKey(group: string): Item {
  return { [TableKeys.PK]: Keys.groupPk(group), [TableKeys.SK]: Keys.CONFIG_SK };
}

function groupItem(g: SubscriptionGroupConfig): Item {
  return {
    ...groupKey(g.group),
    group: g.group,
    retryMaxTimes: g.retryMaxTimes,
    orderly: g.orderly,
    consumeFrom: g.consumeFrom,
    createdAt: g.createdAt,
  };
}

function groupFromItem(i: Item): SubscriptionGroupConfig {
  const from = i.consumeFrom;
  const consumeFrom: ConsumeFrom = from === 'latest' || from === 'earliest' ? from : Number(from);
  return { group: String(i.group), retryMaxTimes: Number(i.retryMaxTimes), orderly: i.orderly === true, consumeFrom, createdAt: Number(i.createdAt) };
}

function topicBrokerItem(r: TopicBrokerRecord): Item {
  return {
    [TableKeys.PK]: Keys.topicPk(r.topic),
    [TableKeys.SK]: Keys.topicBrokerSk(r.brokerName),
    topic: r.topic,
    brokerName: r.brokerName,
    cluster: r.cluster,
    readQueueNums: r.readQueueNums,
    writeQueueNums: r.writeQueueNums,
    perm: r.perm,
    order: r.order,
  };
}

function topicBrokerFromItem(i: Item): TopicBrokerRecord {
  return {
    topic: String(i.topic),
    brokerName: String(i.brokerName),
    cluster: String(i.cluster),
    readQueueNums: Number(i.readQueueNums),
    writeQueueNums: Number(i.writeQueueNums),
    perm: Number(i.perm),
    order: i.order === true,
  };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
