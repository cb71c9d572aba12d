/**
 * The whole CirrusMQ deployment as six stacks, wired together, and a seventh when asked for:
 * the RocketMQ 5 gRPC endpoint (GrpcProxyStack; `grpcProxy` props, off by default because its
 * TLS listener needs a certificate only the deployer has). Stacks are the deployment
 * units (each deploys and rolls back on its own; state lives in StorageStack alone), the
 * constructs in constructs/ are the building blocks.
 *
 *   Storage ─┬─> NameServer ─┬─> Brokers ─┐
 *   Network ─┘               └─> Gateway ─┴─> Monitoring ──> GrpcProxy (optional; also after Network, NameServer)
 */
import { Tags, type App, type Environment } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { BrokerStack, type BrokerStackProps } from './stacks/broker-stack';
import { GatewayStack, type GatewayStackProps } from './stacks/gateway-stack';
import { GrpcProxyStack, type GrpcProxyStackProps } from './stacks/grpc-proxy-stack';
import { MonitoringStack, type MonitoringStackProps } from './stacks/monitoring-stack';
import { NameServerStack, type NameServerStackProps } from './stacks/nameserver-stack';
import { DEFAULT_BROKER_PORT, NetworkStack, type NetworkStackProps } from './stacks/network-stack';
import { StorageStack, type StorageStackProps } from './stacks/storage-stack';
import { NAME_PATTERN, NAME_RULE, PropsValidator } from './validate';

type Own<P, Wired extends keyof P = never> = Omit<
  P,
  | Wired
  | 'env'
  | 'stackName'
  | 'description'
  | 'tags'
  | 'terminationProtection'
  | 'crossRegionReferences'
  | 'analyticsReporting'
  | 'synthesizer'
  | 'permissionsBoundary'
  | 'suppressTemplateIndentation'
  | 'notificationArns'
  | 'propertyInjectors'
>;

export interface CirrusMqProps {
  /** Stack names are `${stackPrefix}-Storage`, `-Network`, ... @default 'CirrusMq' */
  readonly stackPrefix?: string;
  /** RocketMQ's clusterName. @default 'DefaultCluster' */
  readonly clusterName?: string;
  /** One ECS service per name. @default ['broker-a', 'broker-b'] */
  readonly brokerNames?: readonly string[];
  /** @default - environment-agnostic: the account and region of the deploying credentials */
  readonly env?: Environment;
  readonly storage?: Own<StorageStackProps>;
  readonly network?: Own<NetworkStackProps, 'brokerPort'>;
  readonly nameServer?: Own<NameServerStackProps, 'table' | 'vpc' | 'subnets' | 'securityGroup'>;
  readonly brokers?: Own<
    BrokerStackProps,
    'retentionDays' | 'clusterName' | 'brokerNames' | 'vpc' | 'subnets' | 'assignPublicIp' | 'securityGroup' | 'nameServerAddr' | 'table' | 'bucket' | 'image'
  > & {
    /** @default - built from broker-node/Dockerfile at deploy */
    readonly image?: ecs.ContainerImage;
  };
  readonly gateway?: Own<GatewayStackProps, 'vpc' | 'subnets' | 'securityGroup' | 'nameServerAddr'>;
  /**
   * The RocketMQ 5 gRPC endpoint for the official clients: made when given. It needs a
   * certificateArn (TLS listener) or plaintext: true, or the synth fails.
   * @default - no gRPC endpoint
   */
  readonly grpcProxy?: Own<
    GrpcProxyStackProps,
    | 'vpc'
    | 'taskSubnets'
    | 'assignPublicIp'
    | 'privateSubnets'
    | 'brokerSecurityGroup'
    | 'brokerPort'
    | 'nameServerSecurityGroup'
    | 'nameServerAddr'
    | 'endpointSecurityGroup'
    | 'alarmTopic'
    | 'image'
  > & {
    /** @default - built from grpc-proxy/Dockerfile at deploy */
    readonly image?: ecs.ContainerImage;
  };
  readonly monitoring?: Own<
    MonitoringStackProps,
    'clusterName' | 'brokerNames' | 'metricNamespace' | 'table' | 'api' | 'gatewayFunction' | 'nameServerFunction'
  >;
}

export interface CirrusMqStacks {
  readonly storage: StorageStack;
  readonly network: NetworkStack;
  readonly nameServer: NameServerStack;
  readonly brokers: BrokerStack;
  readonly gateway: GatewayStack;
  readonly monitoring: MonitoringStack;
}

/** The six stacks, and the gRPC endpoint's when props.grpcProxy is given. */
export type CirrusMqDeployment = CirrusMqStacks & { readonly grpcProxy?: GrpcProxyStack };

export function createCirrusMq(app: App, props: CirrusMqProps = {}): CirrusMqDeployment {
  const v = new PropsValidator('CirrusMq');
  const prefix = v.pattern('stackPrefix', props.stackPrefix, 'CirrusMq', /^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'a letter then up to 63 letters, digits or "-"');
  const clusterName = v.pattern('clusterName', props.clusterName, 'DefaultCluster', NAME_PATTERN, NAME_RULE);
  const brokerNames = props.brokerNames ?? ['broker-a', 'broker-b'];
  v.check('brokerNames', Array.isArray(brokerNames) && brokerNames.length >= 1, 'a list of at least one broker name', brokerNames);
  const env = props.env;
  const description = (what: string) => `CirrusMQ ${clusterName}: ${what}`;
  const brokerPort = props.brokers?.brokerPort ?? DEFAULT_BROKER_PORT;

  const storage = new StorageStack(app, `${prefix}-Storage`, {
    env,
    description: description('NameServer table and tier bucket (retained)'),
    ...props.storage,
  });
  const network = new NetworkStack(app, `${prefix}-Network`, {
    env,
    description: description('VPC, endpoints and security groups'),
    ...props.network,
    brokerPort,
  });
  const nameServer = new NameServerStack(app, `${prefix}-NameServer`, {
    env,
    description: description('NameServer Lambda behind an internal load balancer'),
    ...props.nameServer,
    table: storage.table,
    vpc: network.vpc,
    subnets: network.privateSubnets,
    securityGroup: network.nameServerSecurityGroup,
  });
  const brokers = new BrokerStack(app, `${prefix}-Brokers`, {
    env,
    description: description('brokers on ECS Fargate'),
    ...props.brokers,
    retentionDays: storage.retentionDays,
    clusterName,
    brokerNames,
    brokerPort,
    vpc: network.vpc,
    subnets: network.brokerSubnets,
    assignPublicIp: network.assignBrokerPublicIp,
    securityGroup: network.brokerSecurityGroup,
    nameServerAddr: nameServer.nameServerAddr,
    table: storage.table,
    bucket: storage.bucket,
  });
  const gateway = new GatewayStack(app, `${prefix}-Gateway`, {
    env,
    description: description('HTTP API: API Gateway and the gateway Lambda'),
    ...props.gateway,
    vpc: network.vpc,
    subnets: network.privateSubnets,
    securityGroup: network.gatewaySecurityGroup,
    nameServerAddr: nameServer.nameServerAddr,
  });
  const monitoring = new MonitoringStack(app, `${prefix}-Monitoring`, {
    env,
    description: description('alarms and dashboard'),
    ...props.monitoring,
    clusterName,
    brokerNames,
    metricNamespace: brokers.metricNamespace,
    table: storage.table,
    api: gateway.api,
    gatewayFunction: gateway.function,
    nameServerFunction: nameServer.function,
  });
  // The broker metric filters must exist for the alarms to mean anything.
  monitoring.addStackDependency(brokers);

  const grpcProxy =
    props.grpcProxy === undefined
      ? undefined
      : new GrpcProxyStack(app, `${prefix}-GrpcProxy`, {
          env,
          description: description('RocketMQ 5 gRPC endpoint: proxy tasks on ECS Fargate behind a Network Load Balancer'),
          ...props.grpcProxy,
          vpc: network.vpc,
          taskSubnets: network.brokerSubnets,
          assignPublicIp: network.assignBrokerPublicIp,
          privateSubnets: network.privateSubnets,
          brokerSecurityGroup: network.brokerSecurityGroup,
          brokerPort,
          nameServerSecurityGroup: network.nameServerSecurityGroup,
          nameServerAddr: nameServer.nameServerAddr,
          endpointSecurityGroup: network.endpointsSecurityGroup,
          alarmTopic: monitoring.alarmTopic,
        });

  Tags.of(app).add('cirrusmq:cluster', clusterName);
  return { storage, network, nameServer, brokers, gateway, monitoring, ...(grpcProxy ? { grpcProxy } : {}) };
}
