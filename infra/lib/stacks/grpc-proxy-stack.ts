/**
 * GrpcProxyStack: the RocketMQ 5 gRPC endpoint (grpc-proxy/src/main.ts) for the official
 * clients: its image, an ECS cluster, the service behind a Network Load Balancer
 * (GrpcProxyService), and the security groups between clients, the load balancer, the proxy
 * tasks, the NameServer and the brokers.
 *
 * TLS: the listener ends TLS with an ACM certificate (`certificateArn`). Without one the synth
 * fails, unless `plaintext: true` asks for a plain TCP listener (a test cluster, or a VPC
 * whose traffic is trusted); giving both is an error too, so the choice is always explicit.
 *
 * The security group rules on the broker and NameServer groups (NetworkStack) are made here,
 * beside the proxy's own group, so NetworkStack does not depend on this stack.
 */
import { CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { LOG_RETENTION_DAYS } from '../constructs/cirrusmq-function';
import { GrpcProxyService } from '../constructs/grpc-proxy-service';
import { grpcProxyImageExcludes } from '../grpc-proxy-image';
import { Entries, REPO_ROOT } from '../paths';
import { PropsValidator } from '../validate';
import { FARGATE_SIZES } from './broker-stack';
import { LOG_LEVELS, type LogLevel } from './nameserver-stack';
import { NAMESERVER_PORT } from './network-stack';

/** RocketMQ 5's proxy port, which the official clients' examples use. */
export const DEFAULT_GRPC_PORT = 8081;
/** The proxy's plain-HTTP GET /healthz (CIRRUSMQ_GRPC_PROXY_HEALTH_PORT): the load balancer's health check. */
export const GRPC_PROXY_HEALTH_PORT = 8082;

const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const IPV4_CIDR = /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/;

export interface GrpcProxyStackProps extends StackProps {
  readonly vpc: ec2.IVpc;
  /** Subnets of the proxy tasks (the brokers'). */
  readonly taskSubnets: ec2.SubnetSelection;
  /** Give each task a public IP (its egress when in public subnets). */
  readonly assignPublicIp: boolean;
  /** Subnets of an internal load balancer (NetworkStack.privateSubnets); an internet-facing one uses the public subnets. */
  readonly privateSubnets: ec2.SubnetSelection;
  /** The proxy reaches the brokers' HTTP API on brokerPort ... */
  readonly brokerSecurityGroup: ec2.ISecurityGroup;
  readonly brokerPort: number;
  /** ... and the NameServer's load balancer on port 80. */
  readonly nameServerSecurityGroup: ec2.ISecurityGroup;
  /** "host:port" of the NameServer (NameServerStack.nameServerAddr). */
  readonly nameServerAddr: string;
  /** The VPC's interface endpoints (ECR, Logs) when the tasks have no other way out. @default - none */
  readonly endpointSecurityGroup?: ec2.ISecurityGroup;
  /**
   * An ACM certificate (same region) for the TLS listener; the clients connect with TLS on
   * (`enableSsl(true)`, `sslEnabled: true`) to a name the certificate covers, a CNAME of the
   * load balancer's DNS name. Required unless `plaintext`.
   * @default - none: the synth fails unless plaintext is true
   */
  readonly certificateArn?: string;
  /** A plain TCP listener instead of TLS: traffic, message bodies included, travels unencrypted. @default false */
  readonly plaintext?: boolean;
  /** The listener's and the tasks' port. @default 8081 */
  readonly port?: number;
  /** An internet-facing load balancer in the public subnets, instead of an internal one. Needs clientCidrs. @default false */
  readonly internetFacing?: boolean;
  /** CIDRs of the RocketMQ applications allowed to connect. @default - the VPC's CIDR (internal only) */
  readonly clientCidrs?: readonly string[];
  /** Fargate CPU units per task. @default 512 */
  readonly cpu?: number;
  /** Fargate memory per task, MiB. @default 1024 */
  readonly memoryMiB?: number;
  /** Tasks when idle (two: one per AZ). @default 2 */
  readonly minTasks?: number;
  /** @default 8 */
  readonly maxTasks?: number;
  /** The average CPU the service scales to. @default 60 */
  readonly targetCpuPercent?: number;
  /** Seconds between SIGTERM and SIGKILL. @default 40 (the load balancer drains for 35) */
  readonly stopTimeoutSeconds?: number;
  /**
   * The proxy image. The default builds grpc-proxy/Dockerfile at `cdk deploy`.
   * @default - an image asset from grpc-proxy/Dockerfile, linux/arm64
   */
  readonly image?: ecs.ContainerImage;
  /** @default 'info' */
  readonly logLevel?: LogLevel;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /** Where the "no healthy proxy task" alarm goes (MonitoringStack.alarmTopic). @default - the alarm notifies nobody */
  readonly alarmTopic?: sns.ITopic;
  /** More proxy settings (grpc-proxy/src/config.ts), e.g. { CIRRUSMQ_SEND_TIMEOUT_MS: '5000' }. Names must start with CIRRUSMQ_. @default {} */
  readonly environment?: Readonly<Record<string, string>>;
}

export class GrpcProxyStack extends Stack {
  readonly proxy: GrpcProxyService;
  readonly taskSecurityGroup: ec2.SecurityGroup;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  /** What RocketMQ applications put in their endpoints: "dns-name:8081". */
  readonly endpoint: string;
  readonly tls: boolean;
  /** In ALARM when the load balancer has no healthy task: every RocketMQ 5 client is cut off. */
  readonly noHealthyTasksAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: GrpcProxyStackProps) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    const plaintext = props.plaintext ?? false;
    v.check('plaintext', typeof plaintext === 'boolean', 'true or false', plaintext);
    const certificateArn = v.optionalPattern(
      'certificateArn',
      props.certificateArn,
      CERTIFICATE_ARN,
      'an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)',
    );
    if (certificateArn === undefined && !plaintext) {
      v.fail(
        'certificateArn',
        'an ACM certificate ARN for the TLS listener (context grpcCertificateArn), or plaintext set to true for a plain TCP listener (context grpcEndpoint=plaintext)',
        certificateArn,
      );
    }
    if (certificateArn !== undefined && plaintext) v.fail('plaintext', 'false when a certificateArn is given (TLS or plain TCP, not both)', plaintext);
    if (certificateArn !== undefined && !Token.isUnresolved(certificateArn) && !Token.isUnresolved(this.region)) {
      const region = certificateArn.split(':')[3];
      v.check('certificateArn', region === this.region, `a certificate in the stack's region ${this.region} (a load balancer takes no other)`, certificateArn);
    }
    const port = v.integer('port', props.port, DEFAULT_GRPC_PORT, 1024, 65535);
    v.check('port', port !== GRPC_PROXY_HEALTH_PORT, `another port than the health check's ${GRPC_PROXY_HEALTH_PORT}`, port);
    const internetFacing = props.internetFacing ?? false;
    if (internetFacing && props.clientCidrs === undefined) {
      v.fail('clientCidrs', 'given with internetFacing (say who may connect; 0.0.0.0/0 for anyone)', props.clientCidrs);
    }
    const clientCidrs = props.clientCidrs ?? [];
    for (const [i, c] of clientCidrs.entries()) v.pattern(`clientCidrs[${i}]`, c, c, IPV4_CIDR, 'an IPv4 CIDR');
    const cpu = v.oneOf('cpu', props.cpu, 512, Object.keys(FARGATE_SIZES).map(Number));
    const [memMin, memMax, memStep] = FARGATE_SIZES[cpu]!;
    const memoryMiB = v.integer('memoryMiB', props.memoryMiB, Math.max(1024, memMin), memMin, memMax);
    v.check('memoryMiB', memoryMiB % memStep === 0, `a multiple of ${memStep} from ${memMin} to ${memMax} with cpu ${cpu}`, memoryMiB);
    const minTasks = v.integer('minTasks', props.minTasks, 2, 1, 100);
    const maxTasks = v.integer('maxTasks', props.maxTasks, Math.max(8, minTasks), minTasks, 100);
    const targetCpuPercent = v.integer('targetCpuPercent', props.targetCpuPercent, 60, 10, 90);
    const stopTimeoutSeconds = v.integer('stopTimeoutSeconds', props.stopTimeoutSeconds, 40, 2, 120);
    const logLevel = v.oneOf('logLevel', props.logLevel, 'info', LOG_LEVELS);
    const logRetention = v.oneOf('logRetentionDays', props.logRetentionDays, 30, LOG_RETENTION_DAYS);
    const environment = { ...(props.environment ?? {}) };
    for (const [k, val] of Object.entries(environment)) {
      v.check(`environment.${k}`, /^CIRRUSMQ_[A-Z0-9_]+$/.test(k) && typeof val === 'string', 'a CIRRUSMQ_* variable with a string value', val);
    }
    this.tls = certificateArn !== undefined;

    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: `CirrusMQ gRPC endpoint load balancer: RocketMQ clients on ${port}`,
      allowAllOutbound: false,
    });
    this.taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      description: 'CirrusMQ gRPC proxy tasks: the load balancer in; the NameServer, the brokers and AWS APIs out',
      allowAllOutbound: false,
    });
    const lb = this.loadBalancerSecurityGroup;
    const task = this.taskSecurityGroup;
    const clientPeers = props.clientCidrs === undefined ? [ec2.Peer.ipv4(props.vpc.vpcCidrBlock)] : clientCidrs.map((c) => ec2.Peer.ipv4(c));
    for (const peer of clientPeers) lb.addIngressRule(peer, ec2.Port.tcp(port), 'RocketMQ clients');
    lb.connections.allowTo(task, ec2.Port.tcp(port), 'gRPC to the proxy tasks');
    lb.connections.allowTo(task, ec2.Port.tcp(GRPC_PROXY_HEALTH_PORT), 'health checks');
    // allowTo puts the rules on the other groups into this stack too (NetworkStack stays independent).
    task.connections.allowTo(props.brokerSecurityGroup, ec2.Port.tcp(props.brokerPort), 'gRPC proxy to the brokers');
    task.connections.allowTo(props.nameServerSecurityGroup, ec2.Port.tcp(NAMESERVER_PORT), 'gRPC proxy route lookups');
    if (props.endpointSecurityGroup) task.connections.allowTo(props.endpointSecurityGroup, ec2.Port.tcp(443), 'gRPC proxy to AWS APIs');
    else task.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs over HTTPS (ECR, CloudWatch Logs)');

    const cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ecs.ContainerInsights.DISABLED });
    const logGroup = new logs.LogGroup(this, 'ProxyLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const image =
      props.image ??
      ecs.ContainerImage.fromDockerImageAsset(
        new ecrAssets.DockerImageAsset(this, 'ProxyImage', {
          directory: REPO_ROOT,
          file: Entries.grpcProxyDockerfile,
          platform: ecrAssets.Platform.LINUX_ARM64,
          ignoreMode: IgnoreMode.DOCKER,
          // The root .dockerignore is the broker's allowlist; the proxy's own
          // (grpc-proxy/Dockerfile.dockerignore, which Docker reads for this Dockerfile) goes
          // after it and so decides: proxy changes never touch the broker image's hash.
          exclude: grpcProxyImageExcludes(),
        }),
      );

    this.proxy = new GrpcProxyService(this, 'Proxy', {
      cluster,
      image,
      vpc: props.vpc,
      taskSubnets: props.taskSubnets,
      assignPublicIp: props.assignPublicIp,
      taskSecurityGroup: task,
      loadBalancerSubnets: internetFacing ? { subnetType: ec2.SubnetType.PUBLIC } : props.privateSubnets,
      loadBalancerSecurityGroup: lb,
      internetFacing,
      port,
      healthPort: GRPC_PROXY_HEALTH_PORT,
      certificateArn,
      environment: {
        // Every interface of the task: the load balancer reaches it on the task's ENI, which
        // the task security group limits to the load balancer.
        CIRRUSMQ_GRPC_PROXY_HOST: '0.0.0.0',
        CIRRUSMQ_GRPC_PROXY_PORT: String(port),
        CIRRUSMQ_GRPC_PROXY_HEALTH_PORT: String(GRPC_PROXY_HEALTH_PORT),
        CIRRUSMQ_NAMESRV_ADDR: props.nameServerAddr,
        CIRRUSMQ_LOG_LEVEL: logLevel,
        ...environment,
      },
      logGroup,
      cpu,
      memoryMiB,
      minTasks,
      maxTasks,
      targetCpuPercent,
      stopTimeoutSeconds,
    });

    this.noHealthyTasksAlarm = new cloudwatch.Alarm(this, 'NoHealthyTasks', {
      alarmDescription: 'CirrusMQ gRPC endpoint: the load balancer has no healthy proxy task',
      metric: this.proxy.targetGroup.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1) }),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 2,
      // No data means no load balancer answering for the tasks either.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.alarmTopic) {
      this.noHealthyTasksAlarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      this.noHealthyTasksAlarm.addOkAction(new actions.SnsAction(props.alarmTopic));
    }

    this.endpoint = `${this.proxy.loadBalancer.loadBalancerDnsName}:${port}`;
    new CfnOutput(this, 'GrpcEndpoint', {
      value: this.endpoint,
      description: `endpoints for RocketMQ 5 clients (${this.tls ? 'TLS on: connect through a name the certificate covers' : 'plain TCP: TLS off'})`,
    });
  }
}
