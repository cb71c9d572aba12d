/**
 * StorageStack: the state that outlives everything else — the NameServer table and the tier
 * bucket. Both are RETAINed by default, so a `cdk destroy` of the cluster keeps the topics
 * and the messages; deploying again finds them.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { NameServerTable } from '../constructs/nameserver-table';
import { TIER_RETENTION_DEFAULT_DAYS, TierBucket } from '../constructs/tier-bucket';
import { PropsValidator } from '../validate';

export interface StorageStackProps extends StackProps {
  /** Days tiered messages are kept in S3. @default 7 */
  readonly retentionDays?: number;
  /** @default true */
  readonly pointInTimeRecovery?: boolean;
  /** DynamoDB deletion protection on the table. @default true, false when removalPolicy is 'destroy' */
  readonly deletionProtection?: boolean;
  /**
   * For the table and the bucket: 'retain' keeps them on `cdk destroy`; 'destroy' deletes
   * them, the bucket emptied first (a test cluster).
   * @default 'retain'
   */
  readonly removalPolicy?: 'retain' | 'destroy';
}

export class StorageStack extends Stack {
  readonly table: dynamodb.ITable;
  readonly bucket: s3.IBucket;
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: StorageStackProps = {}) {
    super(scope, id, props);
    const v = new PropsValidator(id);
    const removal = v.oneOf('removalPolicy', props.removalPolicy, 'retain', ['retain', 'destroy'] as const);
    const removalPolicy = removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const retentionDays = v.integer('retentionDays', props.retentionDays, TIER_RETENTION_DEFAULT_DAYS, 1, 3650);

    this.table = new NameServerTable(this, 'NameServerTable', {
      pointInTimeRecovery: props.pointInTimeRecovery,
      deletionProtection: props.deletionProtection ?? removal === 'retain',
      removalPolicy,
    }).table;
    const tier = new TierBucket(this, 'TierBucket', { retentionDays, removalPolicy, autoDeleteObjects: removal === 'destroy' });
    this.bucket = tier.bucket;
    this.retentionDays = tier.retentionDays;

    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: `The NameServer table (${removal} on destroy)` });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: `The tier bucket (${removal} on destroy)` });
  }
}
