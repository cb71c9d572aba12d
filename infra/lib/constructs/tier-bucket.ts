/**
 * The bucket sealed CommitLog segments are tiered to, under {base}{cluster}/{brokerName}/
 * (docs/architecture.md, "Tiered storage"). Private and encrypted, HTTPS only; objects expire with the retention, and
 * half-finished multipart uploads (a broker killed mid-upload) are cleaned after a day.
 * Not versioned: segments are written once, and versions would double the storage of a log.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PropsValidator } from '../validate';

export interface TierBucketProps {
  /**
   * Days S3 keeps a tiered object before expiring it: the message retention of the cluster.
   * (RocketMQ's fileReservedTime is 72 hours; a cloud log is cheap to keep longer.)
   * @default 7
   */
  readonly retentionDays?: number;
  /** What `cdk destroy` does with the bucket (DESTROY fails unless it is empty). @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Empty the bucket when the stack deletes it (a custom resource Lambda); only with DESTROY. @default false */
  readonly autoDeleteObjects?: boolean;
}

export const TIER_RETENTION_DEFAULT_DAYS = 7;

export class TierBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: TierBucketProps = {}) {
    super(scope, id);
    const v = new PropsValidator('TierBucket');
    this.retentionDays = v.integer('retentionDays', props.retentionDays, TIER_RETENTION_DEFAULT_DAYS, 1, 3650);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      autoDeleteObjects: props.autoDeleteObjects ?? false,
      lifecycleRules: [
        { id: 'retention', enabled: true, expiration: Duration.days(this.retentionDays) },
        { id: 'abort-incomplete-uploads', enabled: true, abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }
}
