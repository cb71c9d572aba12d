/**
 * NetworkStack: the VPC and the security groups that say who may talk to whom.
 *
 * No NAT gateway by default (one costs ~$33 a month, more than the brokers): brokers sit in
 * public subnets with a public IP for their egress to ECR and CloudWatch Logs, behind a
 * security group that admits only the gateway Lambda (and `clientCidrs`). S3 and DynamoDB
 * are reached through gateway endpoints, which are free, so data traffic stays in the VPC.
 * The gateway Lambda and the NameServer's internal load balancer sit in isolated subnets:
 * they only talk to things inside the VPC.
 *
 *   gateway Lambda ──tcp brokerPort──> brokers ──https──> ECR, Logs (internet); S3, DynamoDB (gateway endpoints)
 *         └────────tcp 80──> NameServer ALB <──tcp 80── brokers
 */
import { Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { PropsValidator } from '../validate';

/** The NameServer load balancer's listener port. */
export const NAMESERVER_PORT = 80;
export const DEFAULT_BROKER_PORT = 10911;

export interface NetworkStackProps extends StackProps {
  /**
   * Deploy into this existing VPC instead of creating one. It is read with Vpc.fromLookup,
   * which needs the stack's account and region (so credentials) at synth time.
   * @default - a new VPC
   */
  readonly vpcId?: string;
  /** CIDR of a new VPC. @default '10.42.0.0/16' */
  readonly cidr?: string;
  /** Availability zones of a new VPC (an internal load balancer needs two). @default 2 */
  readonly maxAzs?: number;
  /** NAT gateways of a new VPC; with any, private subnets get egress through them. @default 0 */
  readonly natGateways?: number;
  /**
   * Where brokers run. 'public': public subnets, a public IP each for egress (ECR, Logs), ingress
   * only from the gateway. 'private': no public IP; egress through NAT when natGateways > 0,
   * otherwise through interface endpoints for ECR and CloudWatch Logs (~$7.30 each per AZ a month).
   * @default 'public'
   */
  readonly brokerSubnets?: 'public' | 'private';
  /** The brokers' listening port, for the security group rules. @default 10911 */
  readonly brokerPort?: number;
  /** CIDRs (SDK producers and consumers inside your network) allowed to the brokers and the NameServer. @default [] */
  readonly clientCidrs?: readonly string[];
  /** S3 and DynamoDB gateway endpoints. @default true for a new VPC, false for an existing one (it may have them) */
  readonly gatewayEndpoints?: boolean;
}

export class NetworkStack extends Stack {
  readonly vpc: ec2.IVpc;
  /** Subnets of the broker tasks. */
  readonly brokerSubnets: ec2.SubnetSelection;
  /** Whether broker tasks get a public IP (their egress when in public subnets). */
  readonly assignBrokerPublicIp: boolean;
  /** Subnets of the gateway Lambda and the NameServer's internal load balancer. */
  readonly privateSubnets: ec2.SubnetSelection;
  readonly brokerSecurityGroup: ec2.SecurityGroup;
  readonly gatewaySecurityGroup: ec2.SecurityGroup;
  readonly nameServerSecurityGroup: ec2.SecurityGroup;
  readonly brokerPort: number;
  readonly interfaceEndpoints: readonly string[];

  constructor(scope: Construct, id: string, props: NetworkStackProps = {}) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    const vpcId = v.optionalPattern('vpcId', props.vpcId, /^vpc-[0-9a-f]{8,17}$/, 'a VPC id such as vpc-0123456789abcdef0');
    const cidr = v.pattern('cidr', props.cidr, '10.42.0.0/16', /^(\d{1,3}\.){3}\d{1,3}\/(1[6-9]|2[0-4])$/, 'an IPv4 CIDR from /16 to /24');
    const maxAzs = v.integer('maxAzs', props.maxAzs, 2, 2, 6);
    const natGateways = v.integer('natGateways', props.natGateways, 0, 0, maxAzs);
    const brokerPlacement = v.oneOf('brokerSubnets', props.brokerSubnets, 'public', ['public', 'private'] as const);
    this.brokerPort = v.integer('brokerPort', props.brokerPort, DEFAULT_BROKER_PORT, 1024, 65535);
    const clientCidrs = props.clientCidrs ?? [];
    for (const [i, c] of clientCidrs.entries()) {
      v.pattern(`clientCidrs[${i}]`, c, c, /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/, 'an IPv4 CIDR');
    }
    if (vpcId !== undefined && (props.natGateways !== undefined || props.cidr !== undefined || props.maxAzs !== undefined)) {
      v.fail('vpcId', 'given without cidr, maxAzs or natGateways (they shape a new VPC only)', vpcId);
    }
    if (vpcId !== undefined && (Token.isUnresolved(this.account) || Token.isUnresolved(this.region))) {
      // Vpc.fromLookup reads the VPC from the account at synth time; it cannot in an
      // environment-agnostic stack, and would fail later with a vaguer message.
      v.fail(
        'vpcId',
        'used with a stack whose env names an account and a region (run with AWS credentials, or set CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION)',
        vpcId,
      );
    }

    const privateType = natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED;
    let vpc: ec2.IVpc;
    if (vpcId !== undefined) {
      vpc = ec2.Vpc.fromLookup(this, 'Vpc', { vpcId });
      this.privateSubnets = { subnetType: vpc.privateSubnets.length > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED };
    } else {
      vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(cidr),
        maxAzs,
        natGateways,
        subnetConfiguration: [
          { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
          { name: 'Private', subnetType: privateType, cidrMask: 22 },
        ],
        // Nothing uses the default security group: strip its rules (CIS 5.4).
        restrictDefaultSecurityGroup: true,
      });
      this.privateSubnets = { subnetType: privateType };
    }
    this.vpc = vpc;
    this.brokerSubnets = brokerPlacement === 'public' ? { subnetType: ec2.SubnetType.PUBLIC } : this.privateSubnets;
    this.assignBrokerPublicIp = brokerPlacement === 'public';

    if (props.gatewayEndpoints ?? vpcId === undefined) {
      // Free, and they keep the brokers' data traffic (tiering, manifests) off the internet.
      vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
      vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    }

    this.brokerSecurityGroup = new ec2.SecurityGroup(this, 'BrokerSecurityGroup', {
      vpc,
      description: 'CirrusMQ brokers: the gateway, their peers (and clientCidrs) on the broker port',
      allowAllOutbound: false,
    });
    this.gatewaySecurityGroup = new ec2.SecurityGroup(this, 'GatewaySecurityGroup', {
      vpc,
      description: 'CirrusMQ gateway Lambda: out to the brokers and the NameServer only',
      allowAllOutbound: false,
    });
    this.nameServerSecurityGroup = new ec2.SecurityGroup(this, 'NameServerSecurityGroup', {
      vpc,
      description: 'CirrusMQ NameServer load balancer: brokers and the gateway on HTTP',
      allowAllOutbound: false,
    });
    const broker = this.brokerSecurityGroup;
    const gateway = this.gatewaySecurityGroup;
    const nameServer = this.nameServerSecurityGroup;
    const brokerPort = ec2.Port.tcp(this.brokerPort);
    const nsPort = ec2.Port.tcp(NAMESERVER_PORT);

    broker.addIngressRule(gateway, brokerPort, 'gateway to brokers');
    gateway.addEgressRule(broker, brokerPort, 'gateway to brokers');
    // A broker reads its peers' producer groups (check URLs it missed: producer-group-sync.ts).
    broker.addIngressRule(broker, brokerPort, 'brokers to their peers');
    broker.addEgressRule(broker, brokerPort, 'brokers to their peers');
    nameServer.addIngressRule(broker, nsPort, 'brokers register and heartbeat');
    broker.addEgressRule(nameServer, nsPort, 'brokers register and heartbeat');
    nameServer.addIngressRule(gateway, nsPort, 'gateway route lookups');
    gateway.addEgressRule(nameServer, nsPort, 'gateway route lookups');
    // ECR, CloudWatch Logs, S3 and DynamoDB are all HTTPS.
    broker.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs over HTTPS');
    for (const c of clientCidrs) {
      broker.addIngressRule(ec2.Peer.ipv4(c), brokerPort, 'SDK clients');
      nameServer.addIngressRule(ec2.Peer.ipv4(c), nsPort, 'SDK clients');
    }

    const endpoints: string[] = [];
    if (brokerPlacement === 'private' && natGateways === 0 && vpcId === undefined) {
      // Isolated brokers have no way out: ECR (image pulls; layers come from S3 through the
      // gateway endpoint) and CloudWatch Logs (the awslogs driver) need interface endpoints.
      const services = {
        EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
        EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
        Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      };
      for (const [name, service] of Object.entries(services)) {
        vpc.addInterfaceEndpoint(`${name}Endpoint`, { service, subnets: this.privateSubnets, securityGroups: [this.endpointSecurityGroup()] });
        endpoints.push(name);
      }
    }
    this.interfaceEndpoints = endpoints;
  }

  /** The interface endpoints' group, when there are any: other tasks that need them get an ingress rule on it. */
  get endpointsSecurityGroup(): ec2.SecurityGroup | undefined {
    return this.endpointSg;
  }

  private endpointSg?: ec2.SecurityGroup;
  private endpointSecurityGroup(): ec2.SecurityGroup {
    if (!this.endpointSg) {
      this.endpointSg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'Interface endpoints: HTTPS from the brokers',
        allowAllOutbound: false,
      });
      this.endpointSg.addIngressRule(this.brokerSecurityGroup, ec2.Port.tcp(443), 'brokers to AWS APIs');
    }
    return this.endpointSg;
  }
}
