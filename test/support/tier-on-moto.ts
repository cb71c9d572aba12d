/**
 * A fresh S3 bucket and manifest table on moto_server for a broker's S3 tier, and the broker
 * settings that point at them (through `endpoint`, which may be a ToggleProxy in front of moto).
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTable } from '../../functions/nameserver/src/route-table/ensure-table';
import { motoClientConfig } from './moto';

export interface MotoTier {
  bucket: string;
  tableName: string;
  /** Broker settings for this tier, talking to `endpoint`. */
  brokerEnv(endpoint?: string): Record<string, string>;
}

export async function createMotoTier(motoEndpoint: string): Promise<MotoTier> {
  const id = randomBytes(4).toString('hex');
  const bucket = `cirrusmq-tier-${id}`;
  const tableName = `cirrusmq-${id}`;
  const s3 = new S3Client({ ...motoClientConfig(motoEndpoint), forcePathStyle: true });
  const ddb = new DynamoDBClient(motoClientConfig(motoEndpoint));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await ensureTable(ddb, tableName, { pollMs: 20 });
  } finally {
    s3.destroy();
    ddb.destroy();
  }
  return {
    bucket,
    tableName,
    brokerEnv: (endpoint = motoEndpoint) => ({
      CIRRUSMQ_TIER: 's3',
      CIRRUSMQ_TIER_BUCKET: bucket,
      CIRRUSMQ_TABLE_NAME: tableName,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    }),
  };
}
