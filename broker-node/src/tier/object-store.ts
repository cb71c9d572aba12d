import { CirrusError } from '@cirrusmq/client/protocol';

/**
 * Where tiered data lives: S3 in AWS mode (s3-object-store.ts), a local folder for
 * `npm start` (local-object-store.ts). Both pass one contract suite (object-store.contract.ts).
 *
 * Keys are relative to the broker's prefix `{cluster}/{brokerName}/`, e.g.
 * `commitlog/00000000001073741824`; the implementation adds the prefix.
 */

/**
 * A body to upload: bytes in memory, or a byte range of a local file (streamed, never loaded
 * whole). `pace`, when given, is awaited before each chunk of the file is read: the uploader
 * paces a segment's upload with it (upload-pacer.ts) so the send path keeps its CPU and disk.
 */
export type ObjectBody = Buffer | FileRangeBody;
export interface FileRangeBody {
  filePath: string;
  start: number;
  end: number;
  pace?: (bytes: number) => Promise<void>;
}

export interface PutObjectResult {
  size: number;
  /** CRC32 of the whole object (zlib.crc32), as stored in the manifest and checked on restore. */
  crc32: number;
}

export interface ObjectStoreRequestCounts {
  put: number;
  /** Multipart part uploads (UploadPart), counted apart from whole-object puts. */
  uploadPart: number;
  get: number;
  list: number;
  delete: number;
  /** Requests that failed (after the SDK's own retries). */
  errors: number;
}

export interface ObjectStore {
  /**
   * Large bodies go up in parts (multipart, several in flight); the object appears only when complete.
   * Never replaces an object (a broker never overwrites what it did not write): a key that
   * holds the same bytes (size and CRC32) already counts as stored, since a retry after a
   * crash or a lost answer puts the same object again; other bytes throw TIER_OBJECT_CONFLICT.
   */
  putObject(key: string, body: ObjectBody): Promise<PutObjectResult>;
  /** Bytes [start, end) of the object; fewer when the object is shorter. Throws TIER_OBJECT_NOT_FOUND. */
  getRange(key: string, start: number, end: number): Promise<Buffer>;
  /** The whole object. Throws TIER_OBJECT_NOT_FOUND. */
  getObject(key: string): Promise<Buffer>;
  /** Keys under a key prefix, sorted, every page. */
  list(keyPrefix: string): Promise<string[]>;
  /** Deleting a missing key is not an error. */
  deleteObjects(keys: readonly string[]): Promise<void>;
  readonly requestCounts: ObjectStoreRequestCounts;
  /** Human-readable location for logs: `s3://bucket/prefix` or a folder. */
  readonly location: string;
  close(): void;
}

/** An existing object with other bytes under a key being put: never overwritten, loud, not retriable. */
export function objectConflict(key: string, location: string, existing: PutObjectResult, wanted: PutObjectResult): CirrusError {
  return new CirrusError(
    'TIER_OBJECT_CONFLICT',
    `tier object ${key} in ${location} already holds other bytes (size ${existing.size}, crc32 ${existing.crc32}; this put: size ${wanted.size}, crc32 ${wanted.crc32}); not overwritten: does another broker write this prefix?`,
    { details: { key, location, existingSize: existing.size, existingCrc32: existing.crc32, size: wanted.size, crc32: wanted.crc32 } },
  );
}
