/**
 * The CDK app's settings, from context: `cdk deploy -c clusterName=orders -c brokers=a,b,c`
 * or the "context" block of cdk.json. The only place the app reads context or process.env.
 *
 * | context key | default | what |
 * |---|---|---|
 * | stackPrefix | CirrusMq | stack names: CirrusMq-Storage, ... |
 * | clusterName | DefaultCluster | RocketMQ's clusterName |
 * | brokers | broker-a,broker-b | one ECS service per name |
 * | vpcId | (new VPC) | deploy into this VPC (lookup: needs credentials at synth) |
 * | brokerSubnets | public | public (public IP, no NAT) or private |
 * | natGateways | 0 | NAT gateways of a new VPC |
 * | clientCidrs | (none) | CIDRs of SDK clients allowed to the brokers and the NameServer |
 * | brokerImage | (built from broker-node/Dockerfile) | a prebuilt image URI instead |
 * | durability | s3 | async, sync or s3 |
 * | retentionDays | 7 | days S3 keeps tiered messages |
 * | removalPolicy | retain | retain or destroy, for the table and the bucket |
 * | authorization | iam | iam or none, for the HTTP API |
 * | alarmEmail | (none) | subscribed to the alarm topic |
 * | grpcEndpoint | tls with grpcCertificateArn, else off | the RocketMQ 5 gRPC endpoint: off, tls or plaintext |
 * | grpcCertificateArn | (none) | ACM certificate of its TLS listener |
 * | grpcInternetFacing | false | an internet-facing load balancer (needs grpcClientCidrs) |
 * | grpcClientCidrs | (the VPC's CIDR) | CIDRs of the RocketMQ applications allowed to it |
 * | grpcProxyImage | (built from grpc-proxy/Dockerfile) | a prebuilt image URI instead |
 * | transactionCheckUrlPrefixes | (any http(s) URL) | URL prefixes a producer group's transaction check URL must start with |
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Node } from 'constructs';
import type { CirrusMqProps } from './cirrusmq';
import { PropsError } from './validate';

export function propsFromContext(node: Node, env: Record<string, string | undefined> = process.env): CirrusMqProps {
  const str = (key: string): string | undefined => {
    const raw: unknown = node.tryGetContext(key);
    if (raw === undefined || raw === null || raw === '') return undefined;
    return String(raw).trim();
  };
  const int = (key: string): number | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) throw new PropsError(`context ${key} must be a whole number; got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const list = (key: string): string[] | undefined => {
    const raw: unknown = node.tryGetContext(key);
    if (raw === undefined || raw === null || raw === '') return undefined;
    return (Array.isArray(raw) ? raw.map(String) : String(raw).split(',')).map((s) => s.trim()).filter(Boolean);
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const raw = str(key);
    if (raw !== undefined && !allowed.includes(raw as T)) {
      throw new PropsError(`context ${key} must be one of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`);
    }
    return raw as T | undefined;
  };

  const bool = (key: string): boolean | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false') throw new PropsError(`context ${key} must be true or false; got ${JSON.stringify(raw)}`);
    return raw === 'true';
  };

  const vpcId = str('vpcId');
  const brokerImage = str('brokerImage');
  const alarmEmail = str('alarmEmail');
  const grpcCertificateArn = str('grpcCertificateArn');
  const grpcEndpoint = oneOf('grpcEndpoint', ['off', 'tls', 'plaintext'] as const) ?? (grpcCertificateArn ? 'tls' : 'off');
  if (grpcEndpoint === 'off' && grpcCertificateArn !== undefined) {
    throw new PropsError('context grpcCertificateArn is for the gRPC endpoint, which grpcEndpoint=off leaves out; drop one of them');
  }
  const grpcProxyImage = str('grpcProxyImage');
  const checkUrlPrefixes = list('transactionCheckUrlPrefixes');
  for (const prefix of checkUrlPrefixes ?? []) {
    if (!/^https?:\/\/[^/\s]+/.test(prefix)) {
      throw new PropsError(`context transactionCheckUrlPrefixes must be http(s) URL prefixes with a host; got ${JSON.stringify(prefix)}`);
    }
  }
  return {
    stackPrefix: str('stackPrefix'),
    clusterName: str('clusterName'),
    brokerNames: list('brokers'),
    // A VPC lookup needs a concrete account and region; otherwise stay environment-agnostic,
    // so `cdk synth` needs no credentials at all.
    env: vpcId ? { account: env.CDK_DEFAULT_ACCOUNT, region: env.CDK_DEFAULT_REGION } : undefined,
    storage: { retentionDays: int('retentionDays'), removalPolicy: oneOf('removalPolicy', ['retain', 'destroy'] as const) },
    network: {
      vpcId,
      brokerSubnets: oneOf('brokerSubnets', ['public', 'private'] as const),
      natGateways: int('natGateways'),
      clientCidrs: list('clientCidrs'),
    },
    brokers: {
      durability: oneOf('durability', ['async', 'sync', 's3'] as const),
      image: brokerImage ? ecs.ContainerImage.fromRegistry(brokerImage) : undefined,
      // The brokers POST to check URLs that clients register: a deployment names where they may point.
      environment: checkUrlPrefixes ? { CIRRUSMQ_TRANSACTION_CHECK_URL_PREFIXES: checkUrlPrefixes.join(',') } : undefined,
    },
    gateway: { authorization: oneOf('authorization', ['iam', 'none'] as const) },
    monitoring: alarmEmail ? { alarmEmail } : undefined,
    // The stack checks the rest: tls without a certificate, or plaintext with one, fails the synth.
    grpcProxy:
      grpcEndpoint === 'off'
        ? undefined
        : {
            certificateArn: grpcCertificateArn,
            plaintext: grpcEndpoint === 'plaintext',
            internetFacing: bool('grpcInternetFacing'),
            clientCidrs: list('grpcClientCidrs'),
            image: grpcProxyImage ? ecs.ContainerImage.fromRegistry(grpcProxyImage) : undefined,
          },
  };
}
