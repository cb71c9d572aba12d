/**
 * BrokerStack: the ECS cluster and one Fargate service per brokerName (BrokerService), one
 * broker image for all, one log group for all with a stream per broker, and the metric
 * filters that turn the brokers' heartbeat and tiering log lines into metrics.
 *
 * Scale out by adding a brokerName: a new service, a new S3 prefix, a new set of queues for
 * the topics created from then on.
 */
import { IgnoreMode, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { BrokerMetrics } from '../constructs/broker-metrics';
import { BrokerService } from '../constructs/broker-service';
import { LOG_RETENTION_DAYS } from '../constructs/cirrusmq-function';
import { Entries, REPO_ROOT } from '../paths';
import { NAME_PATTERN, NAME_RULE, PropsValidator } from '../validate';
import { LOG_LEVELS, type LogLevel } from './nameserver-stack';
import { DEFAULT_BROKER_PORT } from './network-stack';

/** Fargate's CPU units and the memory (MiB) each allows. */
export const FARGATE_SIZES: Readonly<Record<number, readonly [number, number, number]>> = {
  // cpu: [min, max, step]
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
};

export const DURABILITIES = ['async', 'sync', 's3'] as const;
export type Durability = (typeof DURABILITIES)[number];

export interface BrokerStackProps extends StackProps {
  /** RocketMQ's clusterName (CIRRUSMQ_CLUSTER). */
  readonly clusterName: string;
  /** One ECS service per name (CIRRUSMQ_BROKER_NAME), each a master (brokerId 0). */
  readonly brokerNames: readonly string[];
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Give each task a public IP (its egress when in public subnets). */
  readonly assignPublicIp: boolean;
  readonly securityGroup: ec2.ISecurityGroup;
  /** "host:port" of the NameServer (NameServerStack.nameServerAddr). */
  readonly nameServerAddr: string;
  readonly table: dynamodb.ITable;
  readonly bucket: s3.IBucket;
  /**
   * The broker image. The default builds broker-node/Dockerfile at `cdk deploy` (a Docker
   * image asset: synth only stages the build context, so it needs no Docker).
   * @default - an image asset from broker-node/Dockerfile, linux/arm64
   */
  readonly image?: ecs.ContainerImage;
  /** @default 10911 */
  readonly brokerPort?: number;
  /** Fargate CPU units per broker: 256, 512, 1024, 2048 or 4096. @default 256 */
  readonly cpu?: number;
  /** Fargate memory per broker, MiB, within what the CPU allows. @default 1024 */
  readonly memoryMiB?: number;
  /** The CommitLog volume (gp3), GiB: a cache of S3; the broker keeps 75 % of it in 1 GiB segments. @default 20 */
  readonly volumeSizeGiB?: number;
  /** gp3 throughput, MiB/s (125 is included in the price). @default 125 */
  readonly volumeThroughputMiBps?: number;
  /**
   * When a send is acknowledged (CIRRUSMQ_DURABILITY): 's3' after the record is in an S3
   * write-ahead chunk, so losing the task and its disk loses nothing acknowledged; 'sync'
   * after fdatasync; 'async' after the write. On Fargate only 's3' survives a lost task.
   * @default 's3'
   */
  readonly durability?: Durability;
  /** Days messages are kept (StorageStack's retention); the brokers' local retention follows. @default 7 */
  readonly retentionDays?: number;
  /** Seconds between SIGTERM and SIGKILL, to flush and unregister (Fargate allows 2 to 120). @default 120 */
  readonly stopTimeoutSeconds?: number;
  /** @default 'info' */
  readonly logLevel?: LogLevel;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /** More broker settings, e.g. { CIRRUSMQ_FLUSH_INTERVAL_MS: '200' }. Names must start with CIRRUSMQ_. @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** CloudWatch Container Insights (per-task CPU, memory, network metrics; billed as custom metrics). @default false */
  readonly containerInsights?: boolean;
}

export class BrokerStack extends Stack {
  readonly cluster: ecs.Cluster;
  readonly brokers: readonly BrokerService[];
  readonly logGroup: logs.LogGroup;
  readonly metricNamespace: string;

  constructor(scope: Construct, id: string, props: BrokerStackProps) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    v.pattern('clusterName', props.clusterName, '', NAME_PATTERN, NAME_RULE);
    v.check(
      'brokerNames',
      Array.isArray(props.brokerNames) && props.brokerNames.length >= 1 && props.brokerNames.length <= 32,
      'a list of 1 to 32 broker names',
      props.brokerNames,
    );
    for (const [i, name] of props.brokerNames.entries()) v.pattern(`brokerNames[${i}]`, name, '', NAME_PATTERN, NAME_RULE);
    const dup = props.brokerNames.find((n, i) => props.brokerNames.indexOf(n) !== i);
    v.check('brokerNames', dup === undefined, `a list without duplicates (${dup} appears twice)`, props.brokerNames);
    const port = v.integer('brokerPort', props.brokerPort, DEFAULT_BROKER_PORT, 1024, 65535);
    const cpu = v.oneOf('cpu', props.cpu, 256, Object.keys(FARGATE_SIZES).map(Number));
    const [memMin, memMax, memStep] = FARGATE_SIZES[cpu]!;
    const memoryMiB = v.integer('memoryMiB', props.memoryMiB, Math.max(1024, memMin), memMin, memMax);
    v.check('memoryMiB', memoryMiB % memStep === 0, `a multiple of ${memStep} from ${memMin} to ${memMax} with cpu ${cpu}`, memoryMiB);
    // Room for a few 1 GiB segments besides the ConsumeQueues and indexes.
    const volumeSizeGiB = v.integer('volumeSizeGiB', props.volumeSizeGiB, 20, 8, 16_384);
    const retentionDays = v.integer('retentionDays', props.retentionDays, 7, 1, 3650);
    const volumeThroughputMiBps = v.integer('volumeThroughputMiBps', props.volumeThroughputMiBps, 125, 125, 1000);
    const durability = v.oneOf('durability', props.durability, 's3', DURABILITIES);
    const stopTimeoutSeconds = v.integer('stopTimeoutSeconds', props.stopTimeoutSeconds, 120, 2, 120);
    const logLevel = v.oneOf('logLevel', props.logLevel, 'info', LOG_LEVELS);
    const logRetention = v.oneOf('logRetentionDays', props.logRetentionDays, 30, LOG_RETENTION_DAYS);
    const environment = { ...(props.environment ?? {}) };
    for (const [k, val] of Object.entries(environment)) {
      v.check(`environment.${k}`, /^CIRRUSMQ_[A-Z0-9_]+$/.test(k) && typeof val === 'string', 'a CIRRUSMQ_* variable with a string value', val);
    }

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: props.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    this.logGroup = new logs.LogGroup(this, 'BrokerLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });

    const image =
      props.image ??
      ecs.ContainerImage.fromDockerImageAsset(
        new ecrAssets.DockerImageAsset(this, 'BrokerImage', {
          directory: REPO_ROOT,
          file: Entries.brokerDockerfile,
          platform: ecrAssets.Platform.LINUX_ARM64,
          // The root .dockerignore lists what the build needs (an allowlist): CDK stages only
          // those files at synth, Docker builds from them at deploy.
          ignoreMode: IgnoreMode.DOCKER,
        }),
      );

    this.brokers = props.brokerNames.map(
      (brokerName) =>
        new BrokerService(this, `Broker-${brokerName}`, {
          cluster: this.cluster,
          clusterName: props.clusterName,
          brokerName,
          image,
          port,
          nameServerAddr: props.nameServerAddr,
          table: props.table,
          bucket: props.bucket,
          logGroup: this.logGroup,
          subnets: props.subnets,
          assignPublicIp: props.assignPublicIp,
          securityGroup: props.securityGroup,
          cpu,
          memoryMiB,
          volumeSizeGiB,
          volumeThroughputMiBps,
          durability,
          retentionDays,
          stopTimeoutSeconds,
          logLevel,
          environment,
        }),
    );

    this.metricNamespace = BrokerMetrics.namespace(props.clusterName);
    new logs.MetricFilter(this, 'HeartbeatMetricFilter', {
      logGroup: this.logGroup,
      metricNamespace: this.metricNamespace,
      metricName: BrokerMetrics.heartbeat.metricName,
      filterPattern: logs.FilterPattern.stringValue('$.msg', '=', BrokerMetrics.heartbeat.logMessage),
      metricValue: '1',
      dimensions: { [BrokerMetrics.dimension]: BrokerMetrics.dimensionField },
      unit: cloudwatch.Unit.COUNT,
    });
    new logs.MetricFilter(this, 'TieringLagMetricFilter', {
      logGroup: this.logGroup,
      metricNamespace: this.metricNamespace,
      metricName: BrokerMetrics.tieringLag.metricName,
      filterPattern: logs.FilterPattern.all(
        logs.FilterPattern.stringValue('$.msg', '=', BrokerMetrics.tieringLag.logMessage),
        logs.FilterPattern.exists(`$.${BrokerMetrics.tieringLag.valueField}`),
      ),
      metricValue: `$.${BrokerMetrics.tieringLag.valueField}`,
      dimensions: { [BrokerMetrics.dimension]: BrokerMetrics.dimensionField },
      unit: cloudwatch.Unit.SECONDS,
    });
  }
}
