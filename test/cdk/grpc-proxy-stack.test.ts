/**
 * The RocketMQ 5 gRPC endpoint's stack (GrpcProxyStack), as `npm run synth` makes it with a
 * certificate: proxy tasks on Fargate (no Lambda: Telemetry needs long-lived HTTP/2 streams)
 * behind a Network Load Balancer with a TLS listener on 8081 that negotiates h2, a target
 * group on the tasks' 8081 with an HTTP health check, the NameServer in the tasks'
 * environment, CPU autoscaling, and security groups that let clients reach the load balancer
 * only and the tasks reach the NameServer and the brokers. Then the other configurations: a
 * plain TCP listener only when asked for, no endpoint by default, and the synth refusing a
 * missing certificate with an error that says what to set.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { propsFromContext } from '../../infra/lib/app-config';
import { createCirrusMq, type CirrusMqDeployment, type CirrusMqProps } from '../../infra/lib/cirrusmq';
import { resourcesOf, removeTestApps, testApp } from './support/cdk-app';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const IMAGE = { bind: () => ({ imageName: 'example/grpc-proxy:test' }) };

let stacks: CirrusMqDeployment;
let t: Template;

beforeAll(() => {
  // The default image (a Docker asset staged from the repo) is what npm run synth uses.
  stacks = createCirrusMq(testApp(), { grpcProxy: { certificateArn: CERT } });
  t = Template.fromStack(stacks.grpcProxy!);
});
afterAll(removeTestApps);

const sgId = (stack: 'grpcProxy', name: 'taskSecurityGroup' | 'loadBalancerSecurityGroup') =>
  stacks.grpcProxy!.resolve((stacks[stack] as any)[name].securityGroupId);

describe('GrpcProxyStack', () => {
  it('runs the proxy on Fargate behind an internal Network Load Balancer, with no Lambda', () => {
    t.resourceCountIs('AWS::Lambda::Function', 0);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
      SecurityGroups: [sgId('grpcProxy', 'loadBalancerSecurityGroup')],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    t.resourceCountIs('AWS::ECS::Service', 1);
    t.hasResourceProperties('AWS::ECS::TaskDefinition', { RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' } });
  });

  it('ends TLS on 8081 with the configured certificate, offers h2 by ALPN, and forwards to the tasks', () => {
    const [[, listener]] = resourcesOf(t, 'AWS::ElasticLoadBalancingV2::Listener') as [[string, any]];
    expect(listener).toMatchObject({
      Port: 8081,
      Protocol: 'TLS',
      Certificates: [{ CertificateArn: CERT }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      AlpnPolicy: ['HTTP2Only'],
    });
    const [[tgId]] = resourcesOf(t, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(listener.DefaultActions).toEqual([{ Type: 'forward', TargetGroupArn: { Ref: tgId } }]);
  });

  it("sends the tasks' 8081 plain TCP (h2c), checks their GET /healthz on 8082, and drains a task for 35 s", () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8081,
      Protocol: 'TCP',
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: '8082',
      HealthCheckPath: '/healthz',
      TargetGroupAttributes: Match.arrayWith([
        { Key: 'deregistration_delay.timeout_seconds', Value: '35' },
        { Key: 'deregistration_delay.connection_termination.enabled', Value: 'true' },
      ]),
    });
    const [[tgId]] = resourcesOf(t, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    t.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [{ ContainerName: 'Proxy', ContainerPort: 8081, TargetGroupArn: { Ref: tgId } }],
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 100, MaximumPercent: 200 }),
      DesiredCount: 2,
    });
  });

  it('points the tasks at the NameServer load balancer and listens on every interface', () => {
    const [[, td]] = resourcesOf(t, 'AWS::ECS::TaskDefinition') as [[string, any]];
    const c = (td.ContainerDefinitions as any[]).find((x) => x.Name === 'Proxy');
    const env = Object.fromEntries((c.Environment as any[]).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      CIRRUSMQ_GRPC_PROXY_HOST: '0.0.0.0',
      CIRRUSMQ_GRPC_PROXY_PORT: '8081',
      CIRRUSMQ_GRPC_PROXY_HEALTH_PORT: '8082',
      CIRRUSMQ_LOG_LEVEL: 'info',
    });
    // The NameServer stack's ALB DNS name, ":80": the same address the brokers get.
    expect(JSON.stringify(env.CIRRUSMQ_NAMESRV_ADDR)).toMatch(/NameServer.*LoadBalancer.*DNSName.*:80/);
    expect(c.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 8081, Protocol: 'tcp' })]);
    expect(c.HealthCheck.Command.join(' ')).toContain('http://127.0.0.1:8082/healthz');
    expect(c.ReadonlyRootFilesystem).toBe(true);
    expect(c.Image).toBeDefined();
  });

  it('scales the service between 2 and 8 tasks on average CPU', () => {
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 8, ScalableDimension: 'ecs:service:DesiredCount' });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        TargetValue: 60,
      }),
    });
  });

  it('admits clients from the VPC to the load balancer only, and the load balancer alone to the tasks', () => {
    const lb = sgId('grpcProxy', 'loadBalancerSecurityGroup');
    const task = sgId('grpcProxy', 'taskSecurityGroup');
    const groups = Object.fromEntries(resourcesOf(t, 'AWS::EC2::SecurityGroup').map(([id, p]) => [id, p]));
    const lbGroup = groups[lb['Fn::GetAtt'][0]];
    expect(lbGroup.SecurityGroupIngress).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: 8081, ToPort: 8081 })]);
    // the VPC's CIDR, from the network stack
    expect(JSON.stringify(lbGroup.SecurityGroupIngress[0].CidrIp)).toMatch(/Network.*Vpc.*CidrBlock/);
    expect(groups[task['Fn::GetAtt'][0]].SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOf(t, 'AWS::EC2::SecurityGroupIngress').map(([, p]) => p);
    const intoTasks = ingress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(task));
    expect(intoTasks.map((r) => [r.FromPort, r.SourceSecurityGroupId])).toEqual(
      expect.arrayContaining([
        [8081, lb],
        [8082, lb],
      ]),
    );
    expect(intoTasks).toHaveLength(2);
  });

  it('lets the tasks reach the brokers on 10911 and the NameServer on 80, the rules kept in this stack', () => {
    const task = sgId('grpcProxy', 'taskSecurityGroup');
    const ingress = resourcesOf(t, 'AWS::EC2::SecurityGroupIngress').map(([, p]) => p);
    const fromTasks = ingress.filter((r) => JSON.stringify(r.SourceSecurityGroupId) === JSON.stringify(task));
    expect(fromTasks.map((r) => [r.FromPort, JSON.stringify(r.GroupId)])).toEqual(
      expect.arrayContaining([
        [10911, expect.stringMatching(/Network.*BrokerSecurityGroup/)],
        [80, expect.stringMatching(/Network.*NameServerSecurityGroup/)],
      ]),
    );
    const egress = resourcesOf(t, 'AWS::EC2::SecurityGroupEgress').map(([, p]) => p);
    const outOfTasks = egress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(task)).map((r) => r.FromPort);
    expect(outOfTasks.sort()).toEqual([10911, 80].sort());
    // NetworkStack's template has no reference back to this stack (it deploys first).
    expect(JSON.stringify(Template.fromStack(stacks.network).toJSON())).not.toContain('GrpcProxy');
  });

  it('alarms to the alarm topic when the load balancer has no healthy task', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HealthyHostCount',
      Namespace: 'AWS/NetworkELB',
      Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      AlarmActions: [Match.objectLike({})],
    });
    expect(JSON.stringify(t.findResources('AWS::CloudWatch::Alarm'))).toMatch(/Monitoring.*AlarmTopic/);
  });

  it('outputs the endpoint the clients use: the load balancer DNS name and 8081', () => {
    t.hasOutput('GrpcEndpoint', {
      Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ProxyLoadBalancer'), 'DNSName'] }, ':8081']] },
    });
  });
});

describe('GrpcProxyStack, other configurations', () => {
  const synth = (props: CirrusMqProps) => createCirrusMq(testApp(), props);

  it('is not made by default', () => {
    expect(synth({}).grpcProxy).toBeUndefined();
  });

  it('serves plain TCP only when plaintext is asked for', () => {
    const s = Template.fromStack(synth({ grpcProxy: { plaintext: true, image: IMAGE } }).grpcProxy!);
    const [[, listener]] = resourcesOf(s, 'AWS::ElasticLoadBalancingV2::Listener') as [[string, any]];
    expect(listener).toMatchObject({ Port: 8081, Protocol: 'TCP' });
    expect(listener.Certificates).toBeUndefined();
    expect(listener.AlpnPolicy).toBeUndefined();
  });

  it('fails the synth without a certificate, saying what to set', () => {
    expect(() => synth({ grpcProxy: { image: IMAGE } })).toThrow(
      'CirrusMq-GrpcProxy: props.certificateArn must be an ACM certificate ARN for the TLS listener (context grpcCertificateArn), or plaintext set to true for a plain TCP listener (context grpcEndpoint=plaintext); got undefined',
    );
    expect(() => synth({ grpcProxy: { certificateArn: CERT, plaintext: true, image: IMAGE } })).toThrow(
      'props.plaintext must be false when a certificateArn is given',
    );
    expect(() => synth({ grpcProxy: { certificateArn: 'my-cert', image: IMAGE } })).toThrow('props.certificateArn must be an ACM certificate ARN');
    expect(() => synth({ env: { account: '123456789012', region: 'us-east-1' }, grpcProxy: { certificateArn: CERT, image: IMAGE } })).toThrow(
      "props.certificateArn must be a certificate in the stack's region us-east-1",
    );
    expect(() => synth({ grpcProxy: { plaintext: true, internetFacing: true, image: IMAGE } })).toThrow('props.clientCidrs must be given with internetFacing');
  });

  it('puts an internet-facing load balancer in the public subnets, open to the given CIDRs only', () => {
    const s = Template.fromStack(
      synth({ grpcProxy: { certificateArn: CERT, internetFacing: true, clientCidrs: ['203.0.113.0/24'], image: IMAGE } }).grpcProxy!,
    );
    s.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    const ingress = resourcesOf(s, 'AWS::EC2::SecurityGroup').flatMap(([, p]) => p.SecurityGroupIngress ?? []);
    expect(ingress.map((r: any) => r.CidrIp)).toEqual(['203.0.113.0/24']);
  });

  it('reads its settings from context: a certificate turns it on with TLS; plaintext must be named', () => {
    const ctx = (c: Record<string, unknown>) => propsFromContext(new App({ context: c }).node, {});
    expect(ctx({}).grpcProxy).toBeUndefined();
    expect(ctx({ grpcCertificateArn: CERT }).grpcProxy).toMatchObject({ certificateArn: CERT, plaintext: false });
    expect(ctx({ grpcEndpoint: 'plaintext', grpcClientCidrs: '10.0.0.0/8' }).grpcProxy).toMatchObject({ plaintext: true, clientCidrs: ['10.0.0.0/8'] });
    expect(ctx({ grpcEndpoint: 'tls' }).grpcProxy).toMatchObject({ certificateArn: undefined, plaintext: false });
    expect(() => ctx({ grpcEndpoint: 'off', grpcCertificateArn: CERT })).toThrow('grpcEndpoint=off');
    expect(() => ctx({ grpcEndpoint: 'yes' })).toThrow('context grpcEndpoint must be one of off, tls, plaintext; got "yes"');
    expect(() => ctx({ grpcEndpoint: 'tls', grpcInternetFacing: 'maybe' })).toThrow('context grpcInternetFacing must be true or false');
  });
});
