/**
 * NameServerStack: the NameServer Lambda (functions/nameserver/src/handler.ts) over the
 * DynamoDB table, reached by brokers and the gateway through an internal Application Load
 * Balancer in the VPC: plain HTTP on port 80, admitted only from their security groups.
 *
 * Why a load balancer and not a function URL or a private API: brokers and the gateway call
 * the NameServer's HTTP API with client/'s NameServerClient, which takes "host:port" (as
 * RocketMQ's namesrvAddr) and signs nothing (client/ carries no AWS SDK). A function URL is
 * an internet endpoint — the gateway Lambda, in isolated subnets, cannot reach it, and IAM
 * auth would need SigV4 in the client. A private REST API needs an execute-api interface
 * endpoint and a stage in every path. The internal ALB works with the client as it is,
 * keeps the traffic in the VPC, and costs about the same as an interface endpoint in two AZs.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as targets from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { CirrusMqFunction, LOG_RETENTION_DAYS } from '../constructs/cirrusmq-function';
import { Entries } from '../paths';
import { PropsValidator } from '../validate';
import { NAMESERVER_PORT } from './network-stack';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface NameServerStackProps extends StackProps {
  readonly table: dynamodb.ITable;
  readonly vpc: ec2.IVpc;
  /** Subnets of the internal load balancer (two AZs at least). */
  readonly subnets: ec2.SubnetSelection;
  /** The load balancer's security group: who may call the NameServer. */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Lambda memory; CPU grows with it. @default 512 */
  readonly memoryMiB?: number;
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** CIRRUSMQ_LOG_LEVEL. @default 'info' */
  readonly logLevel?: LogLevel;
  /** Days CloudWatch keeps the function's logs. @default 30 */
  readonly logRetentionDays?: number;
}

export class NameServerStack extends Stack {
  readonly function: lambda.IFunction;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** What brokers and the gateway put in CIRRUSMQ_NAMESRV_ADDR: "host:port". */
  readonly nameServerAddr: string;

  constructor(scope: Construct, id: string, props: NameServerStackProps) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    const memorySize = v.integer('memoryMiB', props.memoryMiB, 512, 128, 10_240);
    const timeout = v.integer('timeoutSeconds', props.timeoutSeconds, 10, 1, 60);
    const logLevel = v.oneOf('logLevel', props.logLevel, 'info', LOG_LEVELS);
    const logRetention = v.oneOf('logRetentionDays', props.logRetentionDays, 30, LOG_RETENTION_DAYS);

    const fn = new CirrusMqFunction(this, 'NameServer', {
      entry: Entries.nameServerHandler,
      description: 'CirrusMQ NameServer: broker registration and heartbeats, topic routes, over DynamoDB',
      memorySize,
      timeout: Duration.seconds(timeout),
      logRetention,
      environment: {
        CIRRUSMQ_ROUTE_BACKEND: 'dynamodb',
        CIRRUSMQ_TABLE_NAME: props.table.tableName,
        CIRRUSMQ_LOG_LEVEL: logLevel,
      },
    }).function;
    this.function = fn;

    // Exactly what the DynamoDB RouteTable does: items by key, queries on the table and gsi1.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RouteTableItems',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:Query'],
        resources: [props.table.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RouteTableIndex',
        actions: ['dynamodb:Query'],
        resources: [`${props.table.tableArn}/index/*`],
      }),
    );

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      internetFacing: false,
      securityGroup: props.securityGroup,
      dropInvalidHeaderFields: true,
      idleTimeout: Duration.seconds(60),
    });
    const listener = this.loadBalancer.addListener('Http', {
      port: NAMESERVER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      // The security group rules of NetworkStack say who may connect, not 0.0.0.0/0.
      open: false,
    });
    listener.addTargets('NameServerFunction', {
      targets: [new targets.LambdaTarget(fn)],
      // A Lambda target needs no health check; one would cost an invocation every 35 s.
      healthCheck: { enabled: false },
    });

    this.nameServerAddr = `${this.loadBalancer.loadBalancerDnsName}:${NAMESERVER_PORT}`;
    new CfnOutput(this, 'NameServerAddress', {
      value: this.nameServerAddr,
      description: 'CIRRUSMQ_NAMESRV_ADDR for brokers and clients inside the VPC',
    });
  }
}
