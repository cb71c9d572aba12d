/**
 * The synthesized CloudFormation of the six stacks, as `npm run synth` makes it (same
 * feature flags), checked for what matters: the table the NameServer code expects, a private
 * encrypted HTTPS-only bucket, least-privilege IAM, the runtimes, the broker tasks' shape,
 * the network's exposure, and the alarms.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TableKeys } from '../../functions/nameserver/src/route-table/table-schema';
import { createCirrusMq, type CirrusMqStacks } from '../../infra/lib/cirrusmq';
import { NetworkStack } from '../../infra/lib/stacks/network-stack';
import { StorageStack } from '../../infra/lib/stacks/storage-stack';
import { asList, iamStatements, removeTestApps, resourcesOf, testApp } from './support/cdk-app';

// The first synth loads aws-cdk-lib and stages the broker's Docker build context: seconds.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

let stacks: CirrusMqStacks;
const t = {} as Record<'storage' | 'network' | 'nameServer' | 'brokers' | 'gateway' | 'monitoring', Template>;

beforeAll(() => {
  stacks = createCirrusMq(testApp());
  for (const k of Object.keys(stacks) as (keyof CirrusMqStacks)[]) t[k] = Template.fromStack(stacks[k]);
});
afterAll(removeTestApps);

describe('StorageStack', () => {
  it('makes the NameServer table the route-table code expects', () => {
    // The names come from the runtime's own schema file, so the two cannot drift apart.
    t.storage.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: TableKeys.PK, KeyType: 'HASH' },
          { AttributeName: TableKeys.SK, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: TableKeys.PK, AttributeType: 'S' },
          { AttributeName: TableKeys.SK, AttributeType: 'S' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: TableKeys.GSI1,
            KeySchema: [
              { AttributeName: TableKeys.SK, KeyType: 'HASH' },
              { AttributeName: TableKeys.PK, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: TableKeys.TTL, Enabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
    });
  });

  it('makes a private, encrypted tier bucket that expires objects with the retention and is kept on destroy', () => {
    t.storage.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Status: 'Enabled', ExpirationInDays: 7 }),
            Match.objectLike({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          ]),
        },
      }),
    });
    expect(JSON.stringify(t.storage.findResources('AWS::S3::Bucket'))).not.toContain('VersioningConfiguration');
  });

  it('denies every request to the bucket that is not over TLS 1.2 or later', () => {
    const [[, policy]] = resourcesOf(t.storage, 'AWS::S3::BucketPolicy') as [[string, any]];
    const statements = policy.PolicyDocument.Statement as any[];
    const insecure = statements.find((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');
    expect(insecure).toMatchObject({ Action: 's3:*', Principal: { AWS: '*' } });
    expect(asList(insecure.Resource)).toHaveLength(2); // the bucket and its objects
    const oldTls = statements.find((s) => s.Effect === 'Deny' && s.Condition?.NumericLessThan?.['s3:TlsVersion'] !== undefined);
    expect(oldTls.Condition.NumericLessThan['s3:TlsVersion']).toBe(1.2);
  });
});

describe('StorageStack for a throwaway cluster', () => {
  it("follows retentionDays and, with removalPolicy 'destroy', lets destroy delete the table and the bucket", () => {
    const storage = Template.fromStack(new StorageStack(testApp(), 'Storage', { retentionDays: 30, removalPolicy: 'destroy' }));
    storage.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
    storage.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30 })]) } }),
    });
    storage.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    t.storage.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });
});

describe('NetworkStack', () => {
  it('spans two AZs with no NAT gateway, with free gateway endpoints for S3 and DynamoDB and no interface endpoint', () => {
    t.network.resourceCountIs('AWS::EC2::NatGateway', 0);
    t.network.resourceCountIs('AWS::EC2::Subnet', 4);
    const endpoints = resourcesOf(t.network, 'AWS::EC2::VPCEndpoint').map(([, p]) => p);
    expect(endpoints.map((e) => e.VpcEndpointType)).toEqual(['Gateway', 'Gateway']);
    const services = JSON.stringify(endpoints.map((e) => e.ServiceName));
    expect(services).toContain('.s3');
    expect(services).toContain('.dynamodb');
  });

  it('admits nothing from the internet: brokers take the gateway and their peers only, the NameServer brokers and gateway only', () => {
    const ingress = resourcesOf(t.network, 'AWS::EC2::SecurityGroupIngress').map(([, p]) => p);
    const inline = resourcesOf(t.network, 'AWS::EC2::SecurityGroup').flatMap(([, p]) => asList(p.SecurityGroupIngress));
    for (const rule of [...ingress, ...inline]) {
      expect(rule.CidrIp).toBeUndefined();
      expect(rule.CidrIpv6).toBeUndefined();
      expect(rule.SourceSecurityGroupId).toBeDefined();
    }
    const ports = ingress.map((r) => `${r.FromPort}-${r.ToPort}`).sort();
    expect(ports).toEqual(['10911-10911', '10911-10911', '80-80', '80-80']);
    // The peers' rule: from the brokers' own group (producer-group-sync.ts).
    const brokerSg = JSON.stringify(stacks.network.resolve(stacks.network.brokerSecurityGroup.securityGroupId));
    expect(ingress.some((r) => JSON.stringify(r.GroupId) === brokerSg && JSON.stringify(r.SourceSecurityGroupId) === brokerSg && r.FromPort === 10911)).toBe(
      true,
    );
  });

  it('lets the gateway out to the brokers and the NameServer only', () => {
    const gatewaySg = stacks.network.resolve(stacks.network.gatewaySecurityGroup.securityGroupId);
    const egress = resourcesOf(t.network, 'AWS::EC2::SecurityGroupEgress')
      .map(([, p]) => p)
      .filter((e) => JSON.stringify(e.GroupId) === JSON.stringify(gatewaySg));
    expect(egress.map((e) => e.FromPort).sort()).toEqual([10911, 80]);
    expect(egress.every((e) => e.DestinationSecurityGroupId !== undefined)).toBe(true);
  });
});

describe('NetworkStack with private brokers and no NAT', () => {
  it('adds interface endpoints for ECR and CloudWatch Logs, and nothing else', () => {
    const network = Template.fromStack(new NetworkStack(testApp(), 'Network', { brokerSubnets: 'private' }));
    const endpoints = resourcesOf(network, 'AWS::EC2::VPCEndpoint').map(([, p]) => p);
    const iface = endpoints.filter((e) => e.VpcEndpointType === 'Interface').map((e) => JSON.stringify(e.ServiceName));
    expect(iface).toHaveLength(3);
    expect(iface.join()).toMatch(/ecr\.api/);
    expect(iface.join()).toMatch(/ecr\.dkr/);
    expect(iface.join()).toMatch(/logs/);
    network.resourceCountIs('AWS::EC2::NatGateway', 0);
  });
});

describe('NameServerStack', () => {
  it('runs the NameServer handler on nodejs22.x, arm64, on the DynamoDB backend of the table', () => {
    t.nameServer.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          CIRRUSMQ_ROUTE_BACKEND: 'dynamodb',
          CIRRUSMQ_TABLE_NAME: Match.anyValue(),
        }),
      },
    });
  });

  it('serves it from an internal load balancer on HTTP 80, not from the internet', () => {
    t.nameServer.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal', Type: 'application' });
    t.nameServer.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    t.nameServer.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { TargetType: 'lambda' });
    expect(stacks.nameServer.resolve(stacks.nameServer.nameServerAddr)).toMatchObject({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^LoadBalancer/), 'DNSName'] }, ':80']],
    });
  });

  it('grants the item and query calls of the route table, on the table and its indexes only', () => {
    const statements = iamStatements(t.nameServer).map((s) => s.statement);
    const dynamo = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('dynamodb:')));
    const actions = dynamo.flatMap((s) => asList(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query']));
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    for (const s of dynamo) for (const r of asList(s.Resource)) expect(JSON.stringify(r)).toMatch(/NameServerTable|GetStackOutput/);
  });
});

describe('BrokerStack', () => {
  const services = () => resourcesOf(t.brokers, 'AWS::ECS::Service').map(([, p]) => p);
  const taskDefs = () => resourcesOf(t.brokers, 'AWS::ECS::TaskDefinition').map(([, p]) => p);
  const brokerContainer = (brokerName: string) =>
    taskDefs()
      .flatMap((td) => td.ContainerDefinitions as any[])
      .find((c) => c.Name === 'Broker' && c.Environment.some((e: any) => e.Name === 'CIRRUSMQ_BROKER_NAME' && e.Value === brokerName));

  it('runs one service of one task per brokerName, never two tasks of one broker at once', () => {
    expect(services()).toHaveLength(2);
    for (const s of services()) {
      expect(s).toMatchObject({
        DesiredCount: 1,
        LaunchType: 'FARGATE',
        DeploymentConfiguration: { MaximumPercent: 100, MinimumHealthyPercent: 0, DeploymentCircuitBreaker: { Enable: true, Rollback: true } },
        NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' } },
      });
    }
    expect(brokerContainer('broker-a')).toBeDefined();
    expect(brokerContainer('broker-b')).toBeDefined();
  });

  it('fixes each broker identity by environment and leaves the address to the entrypoint', () => {
    const env = Object.fromEntries((brokerContainer('broker-b').Environment as any[]).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      CIRRUSMQ_CLUSTER: 'DefaultCluster',
      CIRRUSMQ_BROKER_NAME: 'broker-b',
      CIRRUSMQ_BROKER_ID: '0',
      CIRRUSMQ_BROKER_PORT: '10911',
      CIRRUSMQ_BROKER_LISTEN_HOST: '0.0.0.0',
      CIRRUSMQ_STORE_DIR: '/data/store',
      CIRRUSMQ_DURABILITY: 's3',
      CIRRUSMQ_FLUSH_DISK_TYPE: 'ASYNC_FLUSH',
      CIRRUSMQ_FILE_RESERVED_TIME_MS: String(7 * 86_400_000),
      CIRRUSMQ_DISK_BUDGET_BYTES: String(15 * 1024 ** 3),
      CIRRUSMQ_RETENTION_MS: String(7 * 86_400_000),
    });
    expect(env.CIRRUSMQ_NAMESRV_ADDR).toBeDefined();
    expect(env.CIRRUSMQ_TIER_BUCKET).toBeDefined();
    expect(env.CIRRUSMQ_BROKER_HOST).toBeUndefined();
    // The broker derives {cluster}/{brokerName}/ itself; a prefix here would be a base under which it nests.
    expect(env.CIRRUSMQ_TIER_PREFIX).toBeUndefined();
  });

  it('gives the broker 120 s to flush and unregister, a health check on /healthz, a read-only root and CloudWatch logs', () => {
    const c = brokerContainer('broker-a');
    expect(c.StopTimeout).toBe(120);
    expect(c.HealthCheck.Command.join(' ')).toContain('http://127.0.0.1:10911/healthz');
    expect(c.ReadonlyRootFilesystem).toBe(true);
    expect(c.LogConfiguration.LogDriver).toBe('awslogs');
    expect(c.MountPoints).toEqual([{ ContainerPath: '/data', ReadOnly: false, SourceVolume: 'commitlog' }]);
    expect(c.DependsOn).toEqual([{ Condition: 'SUCCESS', ContainerName: 'VolumeInit' }]);
  });

  it('puts the CommitLog on an encrypted gp3 EBS volume managed by ECS, on arm64 Fargate', () => {
    for (const s of services()) {
      expect(s.VolumeConfigurations).toEqual([
        {
          Name: 'commitlog',
          ManagedEBSVolume: expect.objectContaining({ SizeInGiB: 20, VolumeType: 'gp3', Encrypted: true, FilesystemType: 'ext4', Throughput: 125 }),
        },
      ]);
    }
    for (const td of taskDefs()) {
      expect(td).toMatchObject({
        Cpu: '256',
        Memory: '1024',
        RuntimePlatform: { CpuArchitecture: 'ARM64' },
        Volumes: [{ Name: 'commitlog', ConfiguredAtLaunch: true }],
      });
    }
  });

  it("limits each broker's task role to its own S3 prefix and its own tier manifest items", () => {
    for (const [self, other] of [
      ['broker-a', 'broker-b'],
      ['broker-b', 'broker-a'],
    ] as const) {
      const role = stacks.brokers.brokers.find((b) => b.node.id === `Broker-${self}`)!.taskRole;
      const roleRef = stacks.brokers.resolve(role.roleName);
      const policies = resourcesOf(t.brokers, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Roles) === JSON.stringify([roleRef]));
      const statements = policies.flatMap(([, p]) => p.PolicyDocument.Statement as any[]);
      const text = JSON.stringify(statements);
      expect(text).not.toContain(other);

      const objects = statements.find((s) => s.Sid === 'TierObjects');
      expect(JSON.stringify(objects.Resource)).toContain(`/DefaultCluster/${self}/*`);
      expect(asList(objects.Action)).not.toContain('s3:*');
      const list = statements.find((s) => s.Sid === 'TierList');
      expect(list.Condition).toEqual({ StringLike: { 's3:prefix': [`DefaultCluster/${self}/*`] } });
      const manifest = statements.find((s) => s.Sid === 'TierManifest');
      expect(manifest.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`TIER#DefaultCluster#${self}`] } });
      expect(statements.map((s) => s.Sid).sort()).toEqual(['TierList', 'TierManifest', 'TierObjects']);
    }
  });

  it('turns the heartbeat and tiering log lines into metrics', () => {
    t.brokers.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.msg = "heartbeat sent" }',
      MetricTransformations: [
        {
          MetricNamespace: 'CirrusMQ/DefaultCluster',
          MetricName: 'BrokerHeartbeats',
          MetricValue: '1',
          Dimensions: [{ Key: 'BrokerName', Value: '$.brokerName' }],
          Unit: 'Count',
        },
      ],
    });
    t.brokers.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: Match.stringLikeRegexp('tier status'),
      MetricTransformations: [Match.objectLike({ MetricName: 'TieringLagSeconds', MetricValue: '$.tieringLagSeconds', Unit: 'Seconds' })],
    });
  });
});

describe('GatewayStack', () => {
  it('runs the gateway handler on nodejs22.x, arm64, inside the VPC, pointed at the NameServer', () => {
    t.gateway.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
      Environment: { Variables: Match.objectLike({ CIRRUSMQ_NAMESRV_ADDR: Match.anyValue(), CIRRUSMQ_SEND_TIMEOUT_MS: '3000' }) },
    });
  });

  it('requires IAM on every route but GET /healthz', () => {
    const routes = resourcesOf(t.gateway, 'AWS::ApiGatewayV2::Route').map(([, p]) => [p.RouteKey, p.AuthorizationType]);
    expect(Object.fromEntries(routes)).toEqual({ $default: 'AWS_IAM', 'GET /healthz': 'NONE' });
  });

  it('throttles the stage and writes JSON access logs', () => {
    t.gateway.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
    });
  });

  it('offers a client policy that cannot create or delete topics', () => {
    const [[, client]] = resourcesOf(t.gateway, 'AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('ClientPolicy')) as [[string, any]];
    const arns = JSON.stringify(client.PolicyDocument.Statement);
    expect(arns).toContain('/POST/v1/topics/*/messages');
    expect(arns).toContain('/POST/v1/topics/*/groups/*/receive');
    expect(arns).toContain('/POST/v1/topics/*/groups/*/ack');
    expect(arns).not.toMatch(/\/reset|\/redrive|\/PUT\/v1\/groups/);
    expect(arns).not.toContain('/DELETE/');
    expect(arns).not.toMatch(/\/POST\/v1\/topics"/);
  });
});

describe('MonitoringStack', () => {
  const alarms = () => resourcesOf(t.monitoring, 'AWS::CloudWatch::Alarm').map(([id, p]): Record<string, any> => ({ id, ...p }));

  it("alarms when a broker's heartbeats stop, missing data included", () => {
    const hb = alarms().filter((a) => a.MetricName === 'BrokerHeartbeats');
    expect(hb.map((a) => a.Dimensions[0].Value).sort()).toEqual(['broker-a', 'broker-b']);
    for (const a of hb) {
      expect(a).toMatchObject({
        Namespace: 'CirrusMQ/DefaultCluster',
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        EvaluationPeriods: 3,
        TreatMissingData: 'breaching',
      });
    }
  });

  it('alarms on tiering lag, gateway 5xx, DynamoDB throttling and NameServer errors', () => {
    const lag = alarms().filter((a) => a.MetricName === 'TieringLagSeconds');
    expect(lag).toHaveLength(2);
    expect(lag[0]).toMatchObject({ Statistic: 'Maximum', Threshold: 900, ComparisonOperator: 'GreaterThanThreshold' });

    expect(alarms().find((a) => a.MetricName === '5xx')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      Threshold: 10,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Period: 300,
    });
    const throttle = alarms().find((a) => a.id.startsWith('DynamoDbThrottling'))!;
    expect(JSON.stringify(throttle.Metrics)).toContain('ThrottledRequests');
    expect(throttle).toMatchObject({ Threshold: 5 });
    expect(alarms().find((a) => a.MetricName === 'Errors')).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 5 });
  });

  it('notifies an SNS topic on alarm and recovery, and draws a dashboard', () => {
    expect(alarms()).toHaveLength(7);
    for (const a of alarms()) {
      expect(a.AlarmActions).toHaveLength(1);
      expect(a.OKActions).toHaveLength(1);
    }
    t.monitoring.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('all stacks', () => {
  it('grant no wildcard action on a wildcard resource', () => {
    for (const [name, template] of Object.entries(t)) {
      for (const { where, statement } of iamStatements(template)) {
        if (statement.Effect !== 'Allow') continue;
        const actions = asList(statement.Action);
        const resources = asList(statement.Resource);
        const wildAction = actions.some((a) => a === '*' || a.endsWith(':*'));
        const wildResource = resources.some((r) => r === '*');
        expect(wildAction && wildResource, `${name}/${where}: ${JSON.stringify(statement)}`).toBe(false);
        expect(actions.includes('*'), `${name}/${where}: Action "*"`).toBe(false);
      }
    }
  });

  it('run every CirrusMQ Lambda on nodejs22.x and arm64', () => {
    const ours = [t.nameServer, t.gateway].flatMap((tpl) => resourcesOf(tpl, 'AWS::Lambda::Function').map(([, p]) => p));
    expect(ours).toHaveLength(2);
    for (const fn of ours) expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
  });

  it('keep every log for a bounded time', () => {
    for (const template of Object.values(t)) {
      for (const [, lg] of resourcesOf(template, 'AWS::Logs::LogGroup')) expect(lg.RetentionInDays).toBe(30);
    }
  });
});
