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
import { LocalTierManifest } from './local-tier-manifest';
import { createObjectStore, type ObjectStoreSpec } from './object-store-spec';
import { ProcessSegmentUploader } from './process-segment-uploader';
import type { TierManifest } from './tier-manifest';
import { DEFAULT_TIER_UPLOAD_CONFIG } from './tier-upload-service';
import { TieredStorage } from './tiered-storage';

export function createTieredStorage(config: BrokerConfig, logger: Logger): TieredStorage | undefined {
  const tier = config.tier;
  if (tier.kind === 'off') return undefined;
  const spec = objectStoreSpec(tier);
  const objectStore = createObjectStore(spec);
  const manifest = tier.kind === 's3' ? s3Manifest(tier, config) : localManifest(tier);
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
      segmentUploader:
        tier.uploader === 'process' ? new ProcessSegmentUploader(spec, tier.uploadNice, objectStore, logger.child({ component: 'tier' })) : undefined,
    },
    logger.child({ component: 'tier' }),
  );
}

function objectStoreSpec(tier: TierOn): ObjectStoreSpec {
  if (tier.kind === 'local') return { kind: 'local', dir: tier.dir, prefix: tier.prefix };
  return { kind: 's3', bucket: tier.bucket, prefix: tier.prefix, region: tier.region, endpoint: tier.endpoint, credentials: tier.credentials };
}

/** Objects under `{dir}/{prefix}`; the manifest beside them in `{dir}/_manifest/{prefix}` (no object key can start with '_manifest/': keys are per-broker prefixed). */
function localManifest(tier: TierOn): TierManifest {
  return new LocalTierManifest(path.join(tier.dir, '_manifest', ...tier.prefix.split('/').filter(Boolean)));
}

function s3Manifest(tier: TierOn, config: BrokerConfig): TierManifest {
  const ddb = new DynamoDBClient({ region: tier.region, endpoint: tier.endpoint, credentials: tier.credentials, maxAttempts: 3 });
  return new DynamoDbTierManifest({
    doc: DynamoDBDocumentClient.from(ddb),
    tableName: tier.tableName,
    clusterName: config.clusterName,
    brokerName: config.brokerName,
  });
}
