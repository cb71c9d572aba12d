/**
 * An ObjectStore described as plain data, so the uploader process (segment-upload-process.ts)
 * builds the same store the broker uses from a message.
 */
import { LocalObjectStore } from './local-object-store';
import type { ObjectStore } from './object-store';
import { createS3Client } from './s3-client';
import { S3ObjectStore } from './s3-object-store';

export type ObjectStoreSpec =
  | { kind: 'local'; dir: string; prefix: string }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      region: string;
      endpoint?: string;
      /** Only for local endpoints; in AWS the default provider chain (task role) applies. */
      credentials?: { accessKeyId: string; secretAccessKey: string };
    };

export function createObjectStore(spec: ObjectStoreSpec): ObjectStore {
  if (spec.kind === 'local') return new LocalObjectStore(spec.dir, spec.prefix);
  const client = createS3Client({ region: spec.region, endpoint: spec.endpoint, credentials: spec.credentials });
  return new S3ObjectStore({ client, bucket: spec.bucket, keyPrefix: spec.prefix });
}
