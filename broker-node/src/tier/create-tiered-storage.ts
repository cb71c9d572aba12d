/**
 * Builds the broker's TieredStorage from its settings: a local folder and JSON manifest for
 * `npm start`, or S3 and the DynamoDB table in AWS (or against moto / LocalStack).
 */
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@cirrusmq/client/protocol';
import type { BrokerConfig, TierOn } from '../config';
import { DynamoDbTierManifest } from './dynamodb-tier-manifest';
import { LocalObjectStore } from './local-object-store';
import { LocalTierManifest } from './local-tier-manifest';
import type { ObjectStore } from './object-store';
import { createS3Client } from './s3-client';
import { S3ObjectStore } from './s3-object-store';
import type { TierManifest } from './tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';

export function createTieredStorage(config: BrokerConfig, logger: Logger): TieredStorage | undefined {
  const tier = config.tier;
  if (tier.kind === 'off') return undefined;
  const { objectStore, manifest } = tier.kind === 's3' ? s3Backends(tier, config) : localBackends(tier);
  logger.info('tiered storage', { kind: tier.kind, location: objectStore.location, durability: config.durability });
  return new TieredStorage(
    objectStore,
    manifest,
    {
      storeDir: config.storeDir,
      commitLogSegmentBytes: config.commitLogSegmentBytes,
      consumeQueueUnitsPerFile: config.consumeQueueUnitsPerFile,
      index: { hashSlotNum: config.indexHashSlotNum, indexNum: config.indexNum },
      read: { blockBytes: tier.blockBytes, cacheBytes: tier.cacheBytes, readAheadBlocks: tier.readAheadBlocks },
      upload: {
        ...DEFAULT_TIER_UPLOAD_CONFIG,
        checkIntervalMs: tier.checkIntervalMs,
        retentionMs: tier.retentionMs,
        uploadBytesPerSec: tier.uploadBytesPerSec,
      },
      wal:
        config.durability === 's3'
          ? { windowMs: tier.walWindowMs, maxChunkBytes: tier.walMaxChunkBytes, maxInFlight: 4, ackTimeoutMs: tier.walAckTimeoutMs }
          : undefined,
      owner: { clusterName: config.clusterName, brokerName: config.brokerName },
    },
    logger.child({ component: 'tier' }),
  );
}

/** Objects under `{dir}/{prefix}`; the manifest beside them in `{dir}/_manifest/{prefix}` (no object key can start with '_manifest/': keys are per-broker prefixed). */
function localBackends(tier: TierOn): { objectStore: ObjectStore; manifest: TierManifest } {
  return {
    objectStore: new LocalObjectStore(tier.dir, tier.prefix),
    manifest: new LocalTierManifest(path.join(tier.dir, '_manifest', ...tier.prefix.split('/').filter(Boolean))),
  };
}

function s3Backends(tier: TierOn, config: BrokerConfig): { objectStore: ObjectStore; manifest: TierManifest } {
  const credentials = tier.credentials;
  const client = createS3Client({ region: tier.region, endpoint: tier.endpoint, credentials });
  const ddb = new DynamoDBClient({ region: tier.region, endpoint: tier.endpoint, credentials, maxAttempts: 3 });
  return {
    objectStore: new S3ObjectStore({ client, bucket: tier.bucket, keyPrefix: tier.prefix }),
    manifest: new DynamoDbTierManifest({
      doc: DynamoDBDocumentClient.from(ddb),
      tableName: tier.tableName,
      clusterName: config.clusterName,
      brokerName: config.brokerName,
    }),
  };
}
