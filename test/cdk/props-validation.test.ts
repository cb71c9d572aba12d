/**
 * Bad props fail the synth at once, with an error naming the construct, the prop, what is
 * allowed and what was given — not minutes into a CloudFormation deploy.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it, vi } from 'vitest';
import { propsFromContext } from '../../infra/lib/app-config';
import { createCirrusMq } from '../../infra/lib/cirrusmq';
import { BrokerStack, type BrokerStackProps } from '../../infra/lib/stacks/broker-stack';
import { GatewayStack, type GatewayStackProps } from '../../infra/lib/stacks/gateway-stack';
import { NetworkStack } from '../../infra/lib/stacks/network-stack';
import { StorageStack } from '../../infra/lib/stacks/storage-stack';
import { PropsError } from '../../infra/lib/validate';

vi.setConfig({ testTimeout: 60_000 });

/** What a BrokerStack or GatewayStack is wired to, made once per call in a scratch app. */
function deps() {
  const app = new App();
  const base = new Stack(app, 'Base');
  const vpc = new ec2.Vpc(base, 'Vpc', { natGateways: 0, maxAzs: 2 });
  const securityGroup = new ec2.SecurityGroup(base, 'Sg', { vpc });
  const table = new dynamodb.Table(base, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  const bucket = new s3.Bucket(base, 'Bucket');
  return { app, vpc, securityGroup, table, bucket };
}

function brokerStack(props: Partial<BrokerStackProps>) {
  const d = deps();
  return new BrokerStack(d.app, 'Brokers', {
    clusterName: 'DefaultCluster',
    brokerNames: ['broker-a'],
    vpc: d.vpc,
    subnets: { subnetType: ec2.SubnetType.PUBLIC },
    assignPublicIp: true,
    securityGroup: d.securityGroup,
    nameServerAddr: 'ns.internal:80',
    table: d.table,
    bucket: d.bucket,
    image: { bind: () => ({ imageName: 'example/broker:test' }) },
    ...props,
  });
}

function gatewayStack(props: Partial<GatewayStackProps>) {
  const d = deps();
  return new GatewayStack(d.app, 'Gateway', {
    vpc: d.vpc,
    subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    securityGroup: d.securityGroup,
    nameServerAddr: 'ns.internal:80',
    ...props,
  });
}

describe('BrokerStack props', () => {
  it('rejects a CPU size Fargate does not have', () => {
    expect(() => brokerStack({ cpu: 300 })).toThrow('Brokers: props.cpu must be one of 256, 512, 1024, 2048, 4096; got 300');
  });

  it('rejects memory the CPU size does not allow', () => {
    expect(() => brokerStack({ cpu: 1024, memoryMiB: 1024 })).toThrow('Brokers: props.memoryMiB must be an integer from 2048 to 8192; got 1024');
    expect(() => brokerStack({ cpu: 512, memoryMiB: 1536 })).toThrow('props.memoryMiB must be a multiple of 1024 from 1024 to 4096 with cpu 512; got 1536');
  });

  it('rejects an empty, duplicated or malformed list of brokers', () => {
    expect(() => brokerStack({ brokerNames: [] })).toThrow('Brokers: props.brokerNames must be a list of 1 to 32 broker names; got []');
    expect(() => brokerStack({ brokerNames: ['broker-a', 'broker-a'] })).toThrow('without duplicates (broker-a appears twice)');
    expect(() => brokerStack({ brokerNames: ['broker a'] })).toThrow(
      'Brokers: props.brokerNames[0] must be 1 to 64 letters, digits, "_" or "-"; got "broker a"',
    );
  });

  it('rejects a stop timeout Fargate cannot give, an unknown durability and a foreign variable', () => {
    expect(() => brokerStack({ stopTimeoutSeconds: 121 })).toThrow('props.stopTimeoutSeconds must be an integer from 2 to 120; got 121');
    expect(() => brokerStack({ durability: 'fast' as never })).toThrow('props.durability must be one of async, sync, s3; got "fast"');
    expect(() => brokerStack({ environment: { NODE_OPTIONS: '--inspect' } })).toThrow('props.environment.NODE_OPTIONS must be a CIRRUSMQ_* variable');
    expect(() => brokerStack({ volumeSizeGiB: 4 })).toThrow('props.volumeSizeGiB must be an integer from 8 to 16384; got 4');
  });

  it('throws a PropsError before any resource is made', () => {
    let stack: Stack | undefined;
    const d = deps();
    try {
      stack = new BrokerStack(d.app, 'Bad', {
        ...({} as BrokerStackProps),
        clusterName: 'c',
        brokerNames: ['a'],
        vpc: d.vpc,
        subnets: {},
        assignPublicIp: true,
        securityGroup: d.securityGroup,
        nameServerAddr: 'x:80',
        table: d.table,
        bucket: d.bucket,
        cpu: 3,
      });
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
    }
    expect(stack).toBeUndefined();
    expect(d.app.node.tryFindChild('Bad')?.node.children ?? []).toHaveLength(0);
  });
});

describe('StorageStack, NetworkStack and GatewayStack props', () => {
  it('reject a retention S3 lifecycle cannot express and an unknown removal policy', () => {
    expect(() => new StorageStack(new App(), 'Storage', { retentionDays: 0 })).toThrow('Storage: props.retentionDays must be an integer from 1 to 3650; got 0');
    expect(() => new StorageStack(new App(), 'Storage', { removalPolicy: 'keep' as never })).toThrow(
      'props.removalPolicy must be one of retain, destroy; got "keep"',
    );
  });

  it('reject more NAT gateways than AZs, a malformed VPC id, and a privileged broker port', () => {
    expect(() => new NetworkStack(new App(), 'Network', { natGateways: 3 })).toThrow('Network: props.natGateways must be an integer from 0 to 2; got 3');
    expect(() => new NetworkStack(new App(), 'Network', { vpcId: 'my-vpc' })).toThrow(
      'props.vpcId must be a VPC id such as vpc-0123456789abcdef0; got "my-vpc"',
    );
    expect(() => new NetworkStack(new App(), 'Network', { brokerPort: 80 })).toThrow('Network: props.brokerPort must be an integer from 1024 to 65535; got 80');
  });

  it('refuse a VPC lookup without an account and region, saying why', () => {
    expect(() => new NetworkStack(new App(), 'Network', { vpcId: 'vpc-0123456789abcdef0' })).toThrow(
      /props\.vpcId must be used with a stack whose env names an account and a region \(run with AWS credentials/,
    );
  });

  it('reject throttling below one request a second and a send timeout the Lambda cannot wait for', () => {
    expect(() => gatewayStack({ throttleRateLimit: 0 })).toThrow('Gateway: props.throttleRateLimit must be an integer from 1 to 10000; got 0');
    expect(() => gatewayStack({ timeoutSeconds: 5, sendTimeoutMs: 6000 })).toThrow('props.sendTimeoutMs must be below timeoutSeconds × 1000 (5000); got 6000');
    expect(() => gatewayStack({ authorization: 'apikey' as never })).toThrow('props.authorization must be one of iam, none; got "apikey"');
  });
});

describe('the app and its context', () => {
  it('reads brokers, durability and the rest from context', () => {
    const app = new App({ context: { brokers: 'a, b,c', durability: 'sync', retentionDays: '30', alarmEmail: 'ops@example.com' } });
    const props = propsFromContext(app.node, {});
    expect(props.brokerNames).toEqual(['a', 'b', 'c']);
    expect(props.brokers?.durability).toBe('sync');
    expect(props.storage?.retentionDays).toBe(30);
    expect(props.monitoring?.alarmEmail).toBe('ops@example.com');
    expect(props.env).toBeUndefined();
  });

  it('passes the transaction check URL prefixes to every broker, and refuses one that is not an http(s) URL', () => {
    const app = new App({ context: { transactionCheckUrlPrefixes: 'https://checks.internal.example/, http://10.0.1.5:8080/tx' } });
    expect(propsFromContext(app.node, {}).brokers?.environment).toEqual({
      CIRRUSMQ_TRANSACTION_CHECK_URL_PREFIXES: 'https://checks.internal.example/,http://10.0.1.5:8080/tx',
    });
    expect(propsFromContext(new App().node, {}).brokers?.environment).toBeUndefined();
    const bad = new App({ context: { transactionCheckUrlPrefixes: 'checks.example' } });
    expect(() => propsFromContext(bad.node, {})).toThrow('context transactionCheckUrlPrefixes must be http(s) URL prefixes with a host; got "checks.example"');
  });

  it('rejects a context value it does not know, naming the key', () => {
    const app = new App({ context: { durability: 'eventually' } });
    expect(() => propsFromContext(app.node, {})).toThrow('context durability must be one of async, sync, s3; got "eventually"');
    const app2 = new App({ context: { retentionDays: 'a week' } });
    expect(() => propsFromContext(app2.node, {})).toThrow('context retentionDays must be a whole number; got "a week"');
  });

  it('pins the account and region only for a VPC lookup', () => {
    const app = new App({ context: { vpcId: 'vpc-0123456789abcdef0' } });
    expect(propsFromContext(app.node, { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'eu-west-1' }).env).toEqual({
      account: '123456789012',
      region: 'eu-west-1',
    });
  });

  it('rejects a bad cluster name before making any stack', () => {
    const app = new App();
    expect(() => createCirrusMq(app, { clusterName: 'my cluster' })).toThrow(
      'CirrusMq: props.clusterName must be 1 to 64 letters, digits, "_" or "-"; got "my cluster"',
    );
    expect(app.node.children).toHaveLength(0);
  });
});
