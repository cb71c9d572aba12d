/**
 * Key names of the NameServer table, shared by the store and ensure-table. The table of
 * docs/architecture.md ("The NameServer table") plus one inverted index: gsi1 (partition key = sk, sort key = pk, all attributes)
 * answers "which topics are on broker X" (sk = BROKER#X, pk begins_with TOPIC#) and
 * "list every topic" (sk = CONFIG) without a Scan; consumer groups (pk GROUP#{group}, sk
 * CONFIG) are listed the same way, with pk begins_with GROUP#.
 */
export const TableKeys = {
  PK: 'pk',
  SK: 'sk',
  GSI1: 'gsi1',
  /** DynamoDB's TTL attribute, epoch seconds. */
  TTL: 'expiresAt',
} as const;

export const Keys = {
  clusterPk: (cluster: string) => `CLUSTER#${cluster}`,
  brokerSk: (brokerName: string, brokerId: number) => `BROKER#${brokerName}#${brokerId}`,
  topicPk: (topic: string) => `TOPIC#${topic}`,
  topicBrokerSk: (brokerName: string) => `BROKER#${brokerName}`,
  CONFIG_SK: 'CONFIG',
  /** The cluster registry: one item per cluster ever seen, so brokers can be listed without a Scan. */
  CLUSTERS_PK: 'CLUSTERS',
  clusterRegistrySk: (cluster: string) => `CLUSTER#${cluster}`,
  groupPk: (group: string) => `GROUP#${group}`,
  TOPIC_PREFIX: 'TOPIC#',
  GROUP_PREFIX: 'GROUP#',
  CLUSTER_PREFIX: 'CLUSTER#',
} as const;
