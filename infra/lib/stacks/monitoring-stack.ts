/**
 * MonitoringStack: the alarms that mean "a person should look", an SNS topic they notify,
 * and one dashboard.
 *
 * | alarm | metric | fires when |
 * |---|---|---|
 * | {broker} heartbeat missing | BrokerHeartbeats (log metric filter on "heartbeat sent") | no heartbeat for `heartbeatMissingMinutes` minutes in a row (missing data counts) |
 * | {broker} tiering lag | TieringLagSeconds (log metric filter on "tier status") | the oldest untiered sealed segment is older than the threshold for 10 minutes |
 * | gateway 5xx | AWS/ApiGateway 5xx of the HTTP API | 5xx answers in 5 minutes reach the threshold, twice in a row |
 * | DynamoDB throttling | AWS/DynamoDB ThrottledRequests of the table, all operations | throttled requests in 5 minutes reach the threshold |
 * | NameServer errors | AWS/Lambda Errors of the NameServer | errors in 5 minutes reach the threshold |
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { BrokerMetrics } from '../constructs/broker-metrics';
import { PropsValidator } from '../validate';

export interface MonitoringStackProps extends StackProps {
  readonly clusterName: string;
  readonly brokerNames: readonly string[];
  /** Where the broker metric filters publish (BrokerStack.metricNamespace). */
  readonly metricNamespace: string;
  readonly table: dynamodb.ITable;
  readonly api: apigw.IHttpApi;
  readonly gatewayFunction: lambda.IFunction;
  readonly nameServerFunction: lambda.IFunction;
  /** Subscribe this address to the alarm topic (it must confirm). @default - no subscription */
  readonly alarmEmail?: string;
  /** Minutes without a heartbeat before a broker's alarm fires (the NameServer drops it after 2). @default 3 */
  readonly heartbeatMissingMinutes?: number;
  /** Tiering lag, seconds, that fires the alarm. @default 900 */
  readonly tieringLagThresholdSeconds?: number;
  /** Gateway 5xx answers in 5 minutes. @default 10 */
  readonly gateway5xxThreshold?: number;
  /** Throttled DynamoDB requests in 5 minutes (the SDK retries a few; many means trouble). @default 5 */
  readonly dynamoDbThrottleThreshold?: number;
  /** NameServer Lambda errors in 5 minutes. @default 5 */
  readonly nameServerErrorThreshold?: number;
}

const FIVE_MINUTES = Duration.minutes(5);

const labelled = (metrics: cloudwatch.Metric[], labels: readonly string[]) => metrics.map((m, i) => m.with({ label: labels[i] }));

export class MonitoringStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    v.check('brokerNames', props.brokerNames.length >= 1, 'a list of at least one broker name', props.brokerNames);
    const alarmEmail = v.optionalPattern('alarmEmail', props.alarmEmail, /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address');
    const heartbeatMinutes = v.integer('heartbeatMissingMinutes', props.heartbeatMissingMinutes, 3, 1, 60);
    const lagSeconds = v.integer('tieringLagThresholdSeconds', props.tieringLagThresholdSeconds, 900, 60, 7 * 86_400);
    const gateway5xx = v.integer('gateway5xxThreshold', props.gateway5xxThreshold, 10, 1, 1_000_000);
    const throttles = v.integer('dynamoDbThrottleThreshold', props.dynamoDbThrottleThreshold, 5, 1, 1_000_000);
    const nsErrors = v.integer('nameServerErrorThreshold', props.nameServerErrorThreshold, 5, 1, 1_000_000);

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `CirrusMQ ${props.clusterName} alarms`, enforceSSL: true });
    if (alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
    const notify = new actions.SnsAction(this.alarmTopic);
    const add = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
      this.alarms.push(alarm);
      return alarm;
    };

    const brokerMetric = (metricName: string, brokerName: string, statistic: string, period: Duration) =>
      new cloudwatch.Metric({
        namespace: props.metricNamespace,
        metricName,
        dimensionsMap: { [BrokerMetrics.dimension]: brokerName },
        statistic,
        period,
      });

    const heartbeats = props.brokerNames.map((b) => brokerMetric(BrokerMetrics.heartbeat.metricName, b, 'Sum', Duration.minutes(1)));
    const lags = props.brokerNames.map((b) => brokerMetric(BrokerMetrics.tieringLag.metricName, b, 'Maximum', FIVE_MINUTES));
    for (const [i, brokerName] of props.brokerNames.entries()) {
      add(
        new cloudwatch.Alarm(this, `HeartbeatMissing-${brokerName}`, {
          alarmDescription: `Broker ${props.clusterName}/${brokerName} sent no heartbeat to the NameServer for ${heartbeatMinutes} minutes: it is down, cannot reach the NameServer, or was dropped from routes.`,
          metric: heartbeats[i]!,
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: heartbeatMinutes,
          datapointsToAlarm: heartbeatMinutes,
          // No line at all is the failure this alarm is for.
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
      );
      add(
        new cloudwatch.Alarm(this, `TieringLag-${brokerName}`, {
          alarmDescription: `Broker ${props.clusterName}/${brokerName} has a sealed CommitLog segment not in S3 for over ${lagSeconds} s: uploads fail or lag, and its local disk fills.`,
          metric: lags[i]!,
          threshold: lagSeconds,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // Alarms get unlabeled metrics (CloudFormation then names the metric plainly); graphs get labels.
    const api5xx = props.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' });
    add(
      new cloudwatch.Alarm(this, 'Gateway5xx', {
        alarmDescription: `The CirrusMQ HTTP API answered ${gateway5xx} or more 5xx in 5 minutes, twice in a row: brokers unavailable (503), or the gateway Lambda failing.`,
        metric: api5xx,
        threshold: gateway5xx,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const throttled = props.table.metricThrottledRequestsForOperations({
      operations: [
        dynamodb.Operation.GET_ITEM,
        dynamodb.Operation.PUT_ITEM,
        dynamodb.Operation.UPDATE_ITEM,
        dynamodb.Operation.DELETE_ITEM,
        dynamodb.Operation.QUERY,
        dynamodb.Operation.BATCH_GET_ITEM,
        dynamodb.Operation.BATCH_WRITE_ITEM,
      ],
      period: FIVE_MINUTES,
      label: 'throttled requests',
    });
    add(
      new cloudwatch.Alarm(this, 'DynamoDbThrottling', {
        alarmDescription: `The NameServer table throttled ${throttles} or more requests in 5 minutes: heartbeats and route lookups are being refused.`,
        metric: throttled,
        threshold: throttles,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    add(
      new cloudwatch.Alarm(this, 'NameServerErrors', {
        alarmDescription: `The NameServer Lambda failed ${nsErrors} or more times in 5 minutes.`,
        metric: props.nameServerFunction.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: nsErrors,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `# CirrusMQ — cluster ${props.clusterName}`, width: 24, height: 1 }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Broker heartbeats per minute', left: labelled(heartbeats, props.brokerNames), width: 12 }),
      new cloudwatch.GraphWidget({
        title: 'Tiering lag (s)',
        left: labelled(lags, props.brokerNames),
        leftAnnotations: [{ value: lagSeconds, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'HTTP API requests',
        left: [props.api.metricCount({ period: FIVE_MINUTES, label: 'requests' })],
        right: [props.api.metricClientError({ period: FIVE_MINUTES, label: '4xx' }), api5xx.with({ label: '5xx' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'HTTP API latency (ms)',
        left: [
          props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p50', label: 'p50' }),
          props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99', label: 'p99' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway Lambda',
        left: [props.gatewayFunction.metricInvocations({ period: FIVE_MINUTES }), props.gatewayFunction.metricErrors({ period: FIVE_MINUTES })],
        right: [props.gatewayFunction.metric('ConcurrentExecutions', { statistic: 'Maximum', period: FIVE_MINUTES })],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'NameServer Lambda',
        left: [props.nameServerFunction.metricInvocations({ period: FIVE_MINUTES }), props.nameServerFunction.metricErrors({ period: FIVE_MINUTES })],
        right: [props.nameServerFunction.metricDuration({ period: FIVE_MINUTES, statistic: 'p99', label: 'duration p99' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'NameServer table',
        left: [
          props.table.metricConsumedReadCapacityUnits({ period: FIVE_MINUTES, label: 'read units' }),
          props.table.metricConsumedWriteCapacityUnits({ period: FIVE_MINUTES, label: 'write units' }),
        ],
        right: [throttled],
        width: 12,
      }),
    );

    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'Subscribe to get the alarms' });
  }
}
