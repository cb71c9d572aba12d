/**
 * The RocketMQ 5 gRPC endpoint (grpc-proxy/, RocketMQ's "cluster mode" proxy): a Fargate
 * service of stateless tasks behind a Network Load Balancer, scaled on CPU.
 *
 * Why an NLB and not an ALB or API Gateway: the official clients hold long-lived HTTP/2
 * streams (Telemetry for settings and recovery, long-polling ReceiveMessage), which an NLB
 * passes through untouched. The NLB ends TLS and negotiates ALPN h2 itself (grpc-java and
 * grpc-go refuse a server that does not), then hands the tasks plain HTTP/2 (h2c), which
 * @grpc/grpc-js serves without a certificate of its own.
 *
 *   client ──TLS, h2──> NLB :8081 ──h2c──> proxy tasks :8081 ──http──> NameServer ALB, brokers
 *
 * A gRPC connection stays on the task it first reached: new tasks from a scale-out get new
 * connections only; on scale-in or a deployment the NLB closes a drained task's connections
 * (connection termination) and the clients reconnect to the others.
 */
import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface GrpcProxyServiceProps {
  readonly cluster: ecs.ICluster;
  readonly image: ecs.ContainerImage;
  readonly vpc: ec2.IVpc;
  /** Subnets and public IP of the tasks (their egress to ECR and CloudWatch Logs). */
  readonly taskSubnets: ec2.SubnetSelection;
  readonly assignPublicIp: boolean;
  readonly taskSecurityGroup: ec2.ISecurityGroup;
  readonly loadBalancerSubnets: ec2.SubnetSelection;
  readonly loadBalancerSecurityGroup: ec2.ISecurityGroup;
  readonly internetFacing: boolean;
  /** The listener's port and the tasks' (the same number on both sides, 8081 by default). */
  readonly port: number;
  /** The proxy's plain-HTTP GET /healthz: gRPC's port speaks HTTP/2 only, which no NLB health check does. */
  readonly healthPort: number;
  /** An ACM certificate for a TLS listener; undefined gives a plain TCP listener. */
  readonly certificateArn: string | undefined;
  /** The proxy's settings (grpc-proxy/src/config.ts), NameServer address included. */
  readonly environment: Record<string, string>;
  readonly logGroup: logs.ILogGroup;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly targetCpuPercent: number;
  readonly stopTimeoutSeconds: number;
}

export class GrpcProxyService extends Construct {
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly listener: elbv2.NetworkListener;
  readonly targetGroup: elbv2.NetworkTargetGroup;

  constructor(scope: Construct, id: string, props: GrpcProxyServiceProps) {
    super(scope, id);
    const { port } = props;

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.container = this.taskDefinition.addContainer('Proxy', {
      image: props.image,
      essential: true,
      // Stateless: nothing on disk, so nothing to write to.
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: port, protocol: ecs.Protocol.TCP, name: 'grpc' }],
      environment: props.environment,
      healthCheck: {
        // Node is the only program the image is sure to have; fetch is built in.
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${props.healthPort}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      stopTimeout: Duration.seconds(props.stopTimeoutSeconds),
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: 'grpc-proxy' }),
    });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks,
      // Stateless tasks: a deployment starts the new ones before it drains the old.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      vpcSubnets: props.taskSubnets,
      assignPublicIp: props.assignPublicIp,
      securityGroups: [props.taskSecurityGroup],
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      circuitBreaker: { enable: true, rollback: true },
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableExecuteCommand: false,
      healthCheckGracePeriod: Duration.seconds(60),
    });
    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.targetCpuPercent,
      scaleOutCooldown: Duration.seconds(60),
      // Scaling in cuts the streams of the drained tasks: do it slowly.
      scaleInCooldown: Duration.seconds(300),
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets: props.loadBalancerSubnets,
      internetFacing: props.internetFacing,
      securityGroups: [props.loadBalancerSecurityGroup],
      // Spread one client's connections over the tasks of every AZ.
      crossZoneEnabled: true,
    });
    this.targetGroup = new elbv2.NetworkTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        port: String(props.healthPort),
        path: '/healthz',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      // A long-polling receive lasts up to 30 s; past that the NLB closes what is left, and
      // the clients reconnect to another task.
      deregistrationDelay: Duration.seconds(35),
      connectionTermination: true,
    });
    this.targetGroup.addTarget(this.service.loadBalancerTarget({ containerName: 'Proxy', containerPort: port, protocol: ecs.Protocol.TCP }));
    this.listener = this.loadBalancer.addListener('Grpc', {
      port,
      ...(props.certificateArn === undefined
        ? { protocol: elbv2.Protocol.TCP }
        : {
            protocol: elbv2.Protocol.TLS,
            certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
            sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
            // gRPC clients require h2 from ALPN; without a policy the NLB offers none.
            alpnPolicy: elbv2.AlpnPolicy.HTTP2_ONLY,
          }),
      defaultTargetGroups: [this.targetGroup],
    });
  }
}
