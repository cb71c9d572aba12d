/**
 * One broker: an ECS service of one Fargate task, its identity (cluster, brokerName) fixed by
 * environment, the CommitLog on an ECS-managed EBS volume, and a task role that reaches only
 * its own S3 prefix {cluster}/{brokerName}/ and its own tier manifest items in the table.
 *
 * A brokerName must never run twice (two writers of one CommitLog and one S3 prefix), so a
 * deployment stops the old task before it starts the new one (maximum 100 %, minimum 0 %):
 * a broker update is a short outage of that broker, which producers ride out on the others.
 *
 * The volume: Fargate deletes an ECS-managed EBS volume with its task, so it is the fast local
 * cache and write-ahead log, not the truth — S3 is (durability `s3`), and a replaced task
 * restores from the manifest. EBS rather than the task's ephemeral storage for a gp3 disk
 * whose size, IOPS and throughput are set apart from the task size (ephemeral storage stops
 * at 200 GiB and promises no throughput).
 */
import { Duration, Size, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Where the EBS volume is mounted in the container; the store lives below it. */
export const DATA_MOUNT_PATH = '/data';
/** The uid:gid of the image's `node` user, which runs the broker (broker-node/Dockerfile). */
export const BROKER_UID = '1000:1000';

/** CommitLog bytes a broker keeps on a volume of this size: 75 % of it. */
export function diskBudgetBytes(volumeSizeGiB: number): number {
  return Math.floor(volumeSizeGiB * 0.75 * 1024 ** 3);
}

export interface BrokerServiceProps {
  readonly cluster: ecs.ICluster;
  readonly clusterName: string;
  readonly brokerName: string;
  readonly image: ecs.ContainerImage;
  readonly port: number;
  readonly nameServerAddr: string;
  readonly table: dynamodb.ITable;
  readonly bucket: s3.IBucket;
  readonly logGroup: logs.ILogGroup;
  readonly subnets: ec2.SubnetSelection;
  readonly assignPublicIp: boolean;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly volumeSizeGiB: number;
  readonly volumeThroughputMiBps: number;
  /** A copy of the client's Durability (client/src/api/types.ts): infra imports no runtime code (DURABILITIES in broker-stack.ts lists the same). */
  readonly durability: 'async' | 'sync' | 's3';
  /** Days messages are kept (the tier bucket's lifecycle); local retention follows it. */
  readonly retentionDays: number;
  readonly stopTimeoutSeconds: number;
  readonly logLevel: string;
  /** Extra broker settings (CIRRUSMQ_*), after the ones this construct sets. */
  readonly environment: Record<string, string>;
}

export class BrokerService extends Construct {
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly taskRole: iam.Role;
  /** The S3 prefix this broker owns: {cluster}/{brokerName}/. */
  readonly tierPrefix: string;
  /** The partition key of its tier manifest items. */
  readonly manifestPartitionKey: string;

  constructor(scope: Construct, id: string, props: BrokerServiceProps) {
    super(scope, id);
    const { clusterName, brokerName } = props;
    this.tierPrefix = `${clusterName}/${brokerName}/`;
    this.manifestPartitionKey = `TIER#${clusterName}#${brokerName}`;

    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `CirrusMQ broker ${clusterName}/${brokerName}: its own S3 prefix and tier manifest items`,
    });
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TierObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [props.bucket.arnForObjects(`${this.tierPrefix}*`)],
      }),
    );
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TierList',
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.tierPrefix}*`] } },
      }),
    );
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TierManifest',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [props.table.tableArn],
        // Only items whose partition key is this broker's manifest: TIER#{cluster}#{brokerName}.
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [this.manifestPartitionKey] } },
      }),
    );

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: this.taskRole,
    });

    const volume = new ecs.ServiceManagedVolume(this, 'CommitLogVolume', {
      name: 'commitlog',
      managedEBSVolume: {
        size: Size.gibibytes(props.volumeSizeGiB),
        volumeType: ec2.EbsDeviceVolumeType.GP3,
        throughput: props.volumeThroughputMiBps,
        fileSystemType: ecs.FileSystemType.EXT4,
        encrypted: true,
        tagSpecifications: [{ propagateTags: ecs.EbsPropagatedTagSource.SERVICE }],
      },
    });
    this.taskDefinition.addVolume(volume);

    // A new EBS file system is root's; the broker runs as `node`. This container hands the
    // volume over, then exits; the broker starts only once it has succeeded.
    const volumeInit = this.taskDefinition.addContainer('VolumeInit', {
      image: props.image,
      essential: false,
      user: '0',
      command: ['chown', '-R', BROKER_UID, DATA_MOUNT_PATH],
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: `${brokerName}-init` }),
    });
    volume.mountIn(volumeInit, { containerPath: DATA_MOUNT_PATH, readOnly: false });

    this.container = this.taskDefinition.addContainer('Broker', {
      image: props.image,
      essential: true,
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: props.port, protocol: ecs.Protocol.TCP, name: 'broker' }],
      environment: {
        CIRRUSMQ_CLUSTER: clusterName,
        CIRRUSMQ_BROKER_NAME: brokerName,
        CIRRUSMQ_BROKER_ID: '0',
        CIRRUSMQ_BROKER_PORT: String(props.port),
        // CIRRUSMQ_BROKER_HOST is the task's private IP, found at start by the image's
        // entrypoint (broker-node/docker/entrypoint.mjs) from the ECS task metadata.
        // The broker listens on 127.0.0.1 unless told otherwise; in the task it must take
        // the gateway Lambdas' (and any allowed SDK clients') traffic on the task's ENI, which
        // the broker security group limits to them.
        CIRRUSMQ_BROKER_LISTEN_HOST: '0.0.0.0',
        CIRRUSMQ_NAMESRV_ADDR: props.nameServerAddr,
        CIRRUSMQ_STORE_DIR: `${DATA_MOUNT_PATH}/store`,
        CIRRUSMQ_DURABILITY: props.durability,
        // The local disk: fdatasync per send only when that is the durability asked for
        // (with 's3' the ack waits for S3, and the volume dies with the task anyway) ...
        CIRRUSMQ_FLUSH_DISK_TYPE: props.durability === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH',
        // ... and what it keeps: a cache of S3 within 75 % of the volume (the rest is for
        // ConsumeQueues, index files, the next segment and the file system); a segment
        // leaves the disk only once it is tiered. The retention applies to the tier.
        CIRRUSMQ_FILE_RESERVED_TIME_MS: String(props.retentionDays * 86_400_000),
        CIRRUSMQ_DISK_BUDGET_BYTES: String(diskBudgetBytes(props.volumeSizeGiB)),
        CIRRUSMQ_RETENTION_MS: String(props.retentionDays * 86_400_000),
        CIRRUSMQ_TIER_BUCKET: props.bucket.bucketName,
        // No CIRRUSMQ_TIER_PREFIX: the broker's prefix is {cluster}/{brokerName}/ (tierPrefix) by itself.
        CIRRUSMQ_TABLE_NAME: props.table.tableName,
        CIRRUSMQ_LOG_LEVEL: props.logLevel,
        AWS_REGION: Stack.of(this).region,
        ...props.environment,
      },
      healthCheck: {
        // Node is the only program the image is sure to have; fetch is built in.
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${props.port}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        // Recovery scans the CommitLog tail and a fresh disk restores from S3 first.
        startPeriod: Duration.seconds(120),
      },
      // SIGTERM, then this long to refuse sends, flush, tier and unregister before SIGKILL
      // (120 s is Fargate's maximum).
      stopTimeout: Duration.seconds(props.stopTimeoutSeconds),
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: brokerName }),
    });
    volume.mountIn(this.container, { containerPath: DATA_MOUNT_PATH, readOnly: false });
    this.container.addContainerDependencies({ container: volumeInit, condition: ecs.ContainerDependencyCondition.SUCCESS });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      vpcSubnets: props.subnets,
      assignPublicIp: props.assignPublicIp,
      securityGroups: [props.securityGroup],
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      circuitBreaker: { enable: true, rollback: true },
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableExecuteCommand: false,
    });
    this.service.addVolume(volume);
  }
}
