/** Shapes exchanged between clients, the NameServer, the gateway and brokers (JSON). */

/** RocketMQ's PermName bits. */
export const Perm = { READ: 4, WRITE: 2, READ_WRITE: 6 } as const;
export const MASTER_ID = 0;

/**
 * When a broker acknowledges a send (its `durability` setting, or what a send asks for):
 * 'async' after the write (page cache), 'sync' after fdatasync, 's3' once the bytes are in an
 * S3 write-ahead chunk. infra/lib/constructs/broker-service.ts keeps a copy (infra imports no runtime code).
 */
export const DURABILITIES = ['async', 'sync', 's3'] as const;
export type Durability = (typeof DURABILITIES)[number];

export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
}

export interface BrokerData {
  cluster: string;
  brokerName: string;
  /** brokerId ("0" = master) -> "host:port" */
  brokerAddrs: Record<string, string>;
}

/** getRouteInfoByTopic's answer. */
export interface TopicRouteData {
  topic: string;
  queueDatas: QueueData[];
  brokerDatas: BrokerData[];
  filterServerTable: Record<string, string[]>;
}

/** What a broker sends to register, and again as its heartbeat. */
export interface BrokerRegistration {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  haServerAddr?: string;
  startedAt: number;
  dataVersion?: number;
  /** How long the NameServer keeps the broker alive without another heartbeat. */
  heartbeatTimeoutMs?: number;
}

export interface TopicConfig {
  topic: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  order: boolean;
}

export interface RegisterBrokerResult {
  /** The topics this broker serves, loaded from the NameServer's durable config. */
  topics: TopicConfig[];
  expiresAtMs: number;
}

export interface TopicInfo {
  topic: string;
  /** Queues per broker. */
  queues: number;
  createdAt: number;
  brokers: QueueData[];
}

export interface CreateTopicRequest {
  topic: string;
  queues: number;
  cluster?: string;
}

export interface ClusterBrokerInfo {
  cluster: string;
  brokerName: string;
  brokerId: number;
  addr: string;
  lastHeartbeatMs: number;
  startedAt: number;
  expiresAtMs: number;
  alive: boolean;
}

/** A broker's answer to a send batch: the batch went to one queue, at contiguous offsets. */
export interface BrokerSendResponse {
  /** SEND_OK; or stored but not yet known durable: FLUSH_DISK_TIMEOUT (SYNC_FLUSH), FLUSH_S3_TIMEOUT (durability s3). */
  status: 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_S3_TIMEOUT';
  brokerName: string;
  queueId: number;
  queueOffset: number;
  count: number;
  commitLogOffset: number;
}

/** A broker's read answer: records in the body, positions in these headers. */
export const PullHeaders = {
  NEXT_OFFSET: 'x-next-offset',
  MIN_OFFSET: 'x-min-offset',
  MAX_OFFSET: 'x-max-offset',
  COUNT: 'x-message-count',
} as const;

export const ContentTypes = {
  JSON: 'application/json',
  SEND_BATCH: 'application/vnd.cirrusmq.send-batch',
  RECORDS: 'application/vnd.cirrusmq.records',
  /** A POP answer: a length-prefixed JSON PopResultMeta, then records (consume-types.ts). */
  POP_RESULT: 'application/vnd.cirrusmq.pop-result',
} as const;
