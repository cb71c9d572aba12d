/**
 * GatewayStack: the HTTP API (functions/gateway/src/handler.ts) as a Lambda in the VPC — it
 * sends to the brokers' private addresses — behind an API Gateway HTTP API.
 *
 * Authentication is IAM (SigV4): producers in AWS (Lambdas, tasks, instances) get access from
 * their role, per route, with no secret to hand out or rotate, and every call's caller is in
 * the access log. HTTP APIs have no API keys (those are REST APIs, with usage plans at
 * $3.50 per million calls instead of $1.00); from a shell, `curl --aws-sigv4` signs. Two
 * managed policies are made to attach to callers: a client one (send, read, describe) and an
 * admin one (everything, topic creation and deletion included). `GET /healthz` is open.
 *
 * Throttling is set on the stage (steady rate and burst, for the whole API); it protects the
 * brokers as much as the bill. Access logs are JSON lines in CloudWatch Logs.
 *
 * The Lambda keeps its route cache (the SDK Producer's TopicPublishInfo) across warm
 * invocations: the app and its dependencies are built at module load.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { CirrusMqFunction, LOG_RETENTION_DAYS } from '../constructs/cirrusmq-function';
import { Entries } from '../paths';
import { PropsValidator } from '../validate';
import { LOG_LEVELS, type LogLevel } from './nameserver-stack';

export interface GatewayStackProps extends StackProps {
  readonly vpc: ec2.IVpc;
  /** Subnets of the Lambda's network interfaces: it needs the brokers and the NameServer only. */
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  /** "host:port" of the NameServer (NameServerStack.nameServerAddr). */
  readonly nameServerAddr: string;
  /** 'iam': SigV4-signed calls only (except GET /healthz). 'none': open to the internet — for a throwaway test cluster only. @default 'iam' */
  readonly authorization?: 'iam' | 'none';
  /** Steady requests per second for the whole API (each request carries up to 1,000 messages). @default 500 */
  readonly throttleRateLimit?: number;
  /** Requests the API absorbs in a burst above the rate. @default 1000 */
  readonly throttleBurstLimit?: number;
  /** Lambda memory; CPU grows with it. @default 1024 */
  readonly memoryMiB?: number;
  /** Below API Gateway's 30 s integration timeout. @default 15 */
  readonly timeoutSeconds?: number;
  /** A ceiling on concurrent gateway Lambdas, and so on connections to the brokers. @default - the account's pool */
  readonly reservedConcurrency?: number;
  /** CIRRUSMQ_SEND_TIMEOUT_MS: all attempts of one send. @default 3000 */
  readonly sendTimeoutMs?: number;
  /** @default 'info' */
  readonly logLevel?: LogLevel;
  /** For the Lambda's logs and the access logs. @default 30 */
  readonly logRetentionDays?: number;
}

export class GatewayStack extends Stack {
  readonly function: lambda.IFunction;
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** Attach to producers and consumers: send, read, describe topics and routes, the cluster. */
  readonly clientPolicy: iam.ManagedPolicy;
  /** Attach to operators: every route, topic creation and deletion included. */
  readonly adminPolicy: iam.ManagedPolicy;
  readonly url: string;

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    const authorization = v.oneOf('authorization', props.authorization, 'iam', ['iam', 'none'] as const);
    const rateLimit = v.integer('throttleRateLimit', props.throttleRateLimit, 500, 1, 10_000);
    const burstLimit = v.integer('throttleBurstLimit', props.throttleBurstLimit, 1000, 1, 5_000);
    const memorySize = v.integer('memoryMiB', props.memoryMiB, 1024, 128, 10_240);
    const timeout = v.integer('timeoutSeconds', props.timeoutSeconds, 15, 1, 29);
    const reservedConcurrency = props.reservedConcurrency === undefined ? undefined : v.integer('reservedConcurrency', props.reservedConcurrency, 0, 1, 10_000);
    const sendTimeoutMs = v.integer('sendTimeoutMs', props.sendTimeoutMs, 3000, 100, 600_000);
    v.check('sendTimeoutMs', sendTimeoutMs < timeout * 1000, `below timeoutSeconds × 1000 (${timeout * 1000})`, sendTimeoutMs);
    const logLevel = v.oneOf('logLevel', props.logLevel, 'info', LOG_LEVELS);
    const logRetention = v.oneOf('logRetentionDays', props.logRetentionDays, 30, LOG_RETENTION_DAYS);

    const gateway = new CirrusMqFunction(this, 'Gateway', {
      entry: Entries.gatewayHandler,
      description: 'CirrusMQ gateway: the HTTP producer and consumer API, sending straight to the brokers',
      memorySize,
      timeout: Duration.seconds(timeout),
      logRetention,
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      environment: {
        CIRRUSMQ_NAMESRV_ADDR: props.nameServerAddr,
        CIRRUSMQ_SEND_TIMEOUT_MS: String(sendTimeoutMs),
        CIRRUSMQ_LOG_LEVEL: logLevel,
      },
    }).function;
    if (reservedConcurrency !== undefined) {
      (gateway.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = reservedConcurrency;
    }
    this.function = gateway;

    const integration = new HttpLambdaIntegration('Gateway', gateway, { payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0 });
    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'CirrusMQ HTTP API v1',
      createDefaultStage: false,
      defaultIntegration: integration,
      defaultAuthorizer: authorization === 'iam' ? new HttpIamAuthorizer() : new apigw.HttpNoneAuthorizer(),
    });
    this.api.addRoutes({ path: '/healthz', methods: [apigw.HttpMethod.GET], integration, authorizer: new apigw.HttpNoneAuthorizer() });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit, burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.userArn',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            error: '$context.error.message',
          }),
        ),
      },
    });
    this.url = this.stage.url;

    const invoke = (method: string, path: string) => this.api.arnForExecuteApi(method, path, '$default');
    this.clientPolicy = new iam.ManagedPolicy(this, 'ClientPolicy', {
      description: 'CirrusMQ: send, read and consume messages, describe topics, groups, routes and the cluster',
      statements: [
        new iam.PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: [
            invoke('POST', '/v1/topics/*/messages'),
            invoke('GET', '/v1/topics'),
            // describe, route, read, lookup by key
            invoke('GET', '/v1/topics/*'),
            // lookup by message id
            invoke('GET', '/v1/messages/*'),
            invoke('GET', '/v1/cluster'),
            invoke('GET', '/openapi.json'),
            // consume (SimpleConsumer, PushConsumer through the gateway) and a pull consumer's commit;
            // resetting a group, redriving its dead letters and changing groups stay admin operations
            invoke('POST', '/v1/topics/*/groups/*/receive'),
            invoke('POST', '/v1/topics/*/groups/*/ack'),
            invoke('POST', '/v1/topics/*/groups/*/change-invisibility'),
            invoke('PUT', '/v1/topics/*/groups/*/offsets'),
            invoke('GET', '/v1/groups'),
            invoke('GET', '/v1/groups/*'),
          ],
        }),
      ],
    });
    this.adminPolicy = new iam.ManagedPolicy(this, 'AdminPolicy', {
      description: 'CirrusMQ: every API call, topic creation and deletion included',
      statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: [invoke('*', '/*')] })],
    });

    new CfnOutput(this, 'GatewayUrl', { value: this.url, description: 'The CirrusMQ HTTP API (SigV4-signed calls)' });
    new CfnOutput(this, 'ClientPolicyArn', { value: this.clientPolicy.managedPolicyArn, description: 'Attach to producer and consumer roles' });
    new CfnOutput(this, 'AdminPolicyArn', { value: this.adminPolicy.managedPolicyArn, description: 'Attach to operator roles' });
  }
}
