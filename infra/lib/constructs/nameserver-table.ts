/**
 * The NameServer's DynamoDB table (docs/architecture.md, "The NameServer table"): pk/sk strings, the
 * inverted index gsi1 (partition key sk, sort key pk) the DynamoDB RouteTable queries, TTL on
 * expiresAt, on-demand billing, point-in-time recovery. The names must match
 * functions/nameserver/src/route-table/table-schema.ts (a test compares them), which creates
 * the same table on emulators (ensure-table.ts).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/** Mirrors TableKeys in table-schema.ts; infra imports no runtime code. */
export const NameServerTableKeys = {
  PK: 'pk',
  SK: 'sk',
  GSI1: 'gsi1',
  TTL: 'expiresAt',
} as const;

export interface NameServerTableProps {
  /** Restore to any second of the last 35 days. @default true */
  readonly pointInTimeRecovery?: boolean;
  /** DynamoDB refuses DeleteTable while set. @default true */
  readonly deletionProtection?: boolean;
  /** What `cdk destroy` does with the table. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

export class NameServerTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: NameServerTableProps = {}) {
    super(scope, id);
    const K = NameServerTableKeys;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: K.PK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: K.SK, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: K.TTL,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      deletionProtection: props.deletionProtection ?? true,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: K.GSI1,
      partitionKey: { name: K.SK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: K.PK, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
