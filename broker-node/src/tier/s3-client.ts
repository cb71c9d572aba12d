/**
 * The S3Client the broker's tier uses. Short connection and idle timeouts and few attempts,
 * so an S3 outage reaches the caller in seconds (it retries with its own backoff and can
 * report TIER_UNAVAILABLE) instead of the SDK waiting minutes inside one call.
 */
import { S3Client } from '@aws-sdk/client-s3';

export interface CreateS3ClientOptions {
  region: string;
  /** A local endpoint (moto, LocalStack): path-style addressing is switched on for it. */
  endpoint?: string;
  /** Only for local endpoints; in AWS the default provider chain (task role) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Attempts per request, the first included. Default 3. */
  maxAttempts?: number;
  /** TCP connect timeout. Default 2000 ms. */
  connectionTimeoutMs?: number;
  /** A socket idle this long fails the request. Default 30000 ms: long enough for a slow part upload. */
  socketTimeoutMs?: number;
}

export function createS3Client(options: CreateS3ClientOptions): S3Client {
  return new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    // moto and LocalStack do not serve virtual-hosted buckets (bucket.127.0.0.1).
    forcePathStyle: options.endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 2_000,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
    },
  });
}
