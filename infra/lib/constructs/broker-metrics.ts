/**
 * The broker's CloudWatch metrics, and the log lines they come from. The broker publishes
 * them by logging (its JSON lines go to CloudWatch Logs through the awslogs driver); metric
 * filters on the broker log group turn the lines into metrics. So the broker needs no
 * CloudWatch permission and no CloudWatch SDK, and a test can read the lines locally.
 *
 *   {"level":"info","msg":"heartbeat sent","brokerName":"broker-a",...}
 *       -> BrokerHeartbeats (Count, 1 per line), dimension BrokerName
 *          logged after each register/heartbeat call the NameServer accepted (every 30 s)
 *   {"level":"info","msg":"tier status","brokerName":"broker-a","tieringLagSeconds":12,...}
 *       -> TieringLagSeconds (Seconds, the field's value), dimension BrokerName
 *          logged every minute: age of the oldest sealed segment not yet tiered (0 if none)
 */
export const BrokerMetrics = {
  namespace: (clusterName: string) => `CirrusMQ/${clusterName}`,
  dimension: 'BrokerName',
  dimensionField: '$.brokerName',
  heartbeat: { metricName: 'BrokerHeartbeats', logMessage: 'heartbeat sent' },
  tieringLag: { metricName: 'TieringLagSeconds', logMessage: 'tier status', valueField: 'tieringLagSeconds' },
} as const;
