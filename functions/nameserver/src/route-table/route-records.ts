/**
 * The records both stores keep, and the pure functions that turn them into API answers,
 * so the embedded store and the DynamoDB store cannot drift apart in what they return.
 */
import {
  type BrokerData,
  type BrokerRegistration,
  CirrusError,
  type ClusterBrokerInfo,
  MASTER_ID,
  Perm,
  type QueueData,
  type TopicConfig,
  type TopicInfo,
  type TopicRouteData,
} from '@cirrusmq/client/protocol';

/** A live-broker entry (brokerLiveTable + brokerAddrTable in RocketMQ). */
export interface BrokerRecord {
  cluster: string;
  brokerName: string;
  brokerId: number;
  addr: string;
  haAddr?: string;
  lastHeartbeatMs: number;
  startedAt: number;
  dataVersion: number;
  expiresAtMs: number;
}

/** A topic's queues on one brokerName (topicQueueTable). Durable: survives broker death. */
export interface TopicBrokerRecord {
  topic: string;
  brokerName: string;
  cluster: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  order: boolean;
}

export interface TopicConfigRecord {
  topic: string;
  queues: number;
  createdAt: number;
}

export function brokerRecordFrom(reg: BrokerRegistration, now: number, defaultExpiryMs: number): BrokerRecord {
  return {
    cluster: reg.clusterName,
    brokerName: reg.brokerName,
    brokerId: reg.brokerId,
    addr: reg.brokerAddr,
    haAddr: reg.haServerAddr,
    lastHeartbeatMs: now,
    startedAt: reg.startedAt,
    dataVersion: reg.dataVersion ?? 0,
    expiresAtMs: now + (reg.heartbeatTimeoutMs ?? defaultExpiryMs),
  };
}

export function isAlive(b: Pick<BrokerRecord, 'expiresAtMs'>, now: number): boolean {
  return b.expiresAtMs > now;
}

export function isLiveMaster(b: BrokerRecord, now: number): boolean {
  return b.brokerId === MASTER_ID && isAlive(b, now);
}

export function topicOnBroker(topic: string, queues: number, master: BrokerRecord): TopicBrokerRecord {
  return {
    topic,
    brokerName: master.brokerName,
    cluster: master.cluster,
    readQueueNums: queues,
    writeQueueNums: queues,
    perm: Perm.READ_WRITE,
    order: false,
  };
}

export function toTopicConfig(r: TopicBrokerRecord): TopicConfig {
  return { topic: r.topic, readQueueNums: r.readQueueNums, writeQueueNums: r.writeQueueNums, perm: r.perm, order: r.order };
}

export function toQueueData(r: TopicBrokerRecord): QueueData {
  return { brokerName: r.brokerName, readQueueNums: r.readQueueNums, writeQueueNums: r.writeQueueNums, perm: r.perm };
}

export function toTopicInfo(config: TopicConfigRecord, onBrokers: readonly TopicBrokerRecord[]): TopicInfo {
  return {
    topic: config.topic,
    queues: config.queues,
    createdAt: config.createdAt,
    brokers: [...onBrokers].sort(byBrokerName).map(toQueueData),
  };
}

export function toClusterBrokerInfo(b: BrokerRecord, now: number): ClusterBrokerInfo {
  return {
    cluster: b.cluster,
    brokerName: b.brokerName,
    brokerId: b.brokerId,
    addr: b.addr,
    lastHeartbeatMs: b.lastHeartbeatMs,
    startedAt: b.startedAt,
    expiresAtMs: b.expiresAtMs,
    alive: isAlive(b, now),
  };
}

export function sortBrokerInfos(list: ClusterBrokerInfo[]): ClusterBrokerInfo[] {
  return list.sort((a, b) => cmp(a.cluster, b.cluster) || cmp(a.brokerName, b.brokerName) || a.brokerId - b.brokerId);
}

/**
 * getRouteInfoByTopic: a brokerName's queues are routable while at least one of its
 * brokers (in the cluster the topic was created in) is alive, as RocketMQ drops queue data
 * only once a brokerName has no address left.
 */
export function buildTopicRoute(topic: string, onBrokers: readonly TopicBrokerRecord[], brokers: readonly BrokerRecord[], now: number): TopicRouteData {
  const queueDatas: QueueData[] = [];
  const brokerDatas: BrokerData[] = [];
  for (const q of [...onBrokers].sort(byBrokerName)) {
    const live = brokers.filter((b) => b.cluster === q.cluster && b.brokerName === q.brokerName && isAlive(b, now));
    if (live.length === 0) continue;
    queueDatas.push(toQueueData(q));
    const brokerAddrs: Record<string, string> = {};
    for (const b of live.sort((x, y) => x.brokerId - y.brokerId)) brokerAddrs[String(b.brokerId)] = b.addr;
    brokerDatas.push({ cluster: q.cluster, brokerName: q.brokerName, brokerAddrs });
  }
  return { topic, queueDatas, brokerDatas, filterServerTable: {} };
}

export type CreateTopicPlan =
  | { kind: 'new'; config: TopicConfigRecord; add: TopicBrokerRecord[] }
  | { kind: 'existing'; config: TopicConfigRecord; add: TopicBrokerRecord[] };

/**
 * Decides what createTopic writes. An existing topic with the same queue count is not an
 * error: it gains the live masters that do not have it yet (a re-run after a partial
 * create, or a broker that joined later).
 */
export function planCreateTopic(
  req: { topic: string; queues: number },
  existing: { config: TopicConfigRecord; onBrokers: readonly TopicBrokerRecord[] } | undefined,
  liveMasters: readonly BrokerRecord[],
  now: number,
): CreateTopicPlan {
  if (existing) {
    if (existing.config.queues !== req.queues) {
      throw new CirrusError('TOPIC_EXISTS', `topic "${req.topic}" exists with ${existing.config.queues} queues per broker, not ${req.queues}`);
    }
    const have = new Set(existing.onBrokers.map((r) => r.brokerName));
    const add = uniqueByName(liveMasters)
      .filter((m) => !have.has(m.brokerName))
      .map((m) => topicOnBroker(req.topic, req.queues, m));
    return { kind: 'existing', config: existing.config, add };
  }
  if (liveMasters.length === 0) {
    throw new CirrusError('NO_LIVE_BROKER', `no live master broker to create topic "${req.topic}" on`);
  }
  return {
    kind: 'new',
    config: { topic: req.topic, queues: req.queues, createdAt: now },
    add: uniqueByName(liveMasters).map((m) => topicOnBroker(req.topic, req.queues, m)),
  };
}

function uniqueByName(brokers: readonly BrokerRecord[]): BrokerRecord[] {
  const seen = new Map<string, BrokerRecord>();
  for (const b of brokers) if (!seen.has(b.brokerName)) seen.set(b.brokerName, b);
  return [...seen.values()];
}

function byBrokerName(a: { brokerName: string }, b: { brokerName: string }): number {
  return cmp(a.brokerName, b.brokerName);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
