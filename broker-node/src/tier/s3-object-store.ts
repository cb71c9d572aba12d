/**
 * The ObjectStore on S3: objects are `s3://{bucket}/{keyPrefix}{key}`.
 *
 * putObject: a body up to a part (a file range) or 64 MiB (a Buffer) is one PutObject; a
 * larger file range a multipart upload with queueSize parts in flight (s3-file-parts.ts:
 * part buffers reused, one CRC32 per part, the object's combined from them), which S3 shows
 * only once CompleteMultipartUpload succeeds (a failed one is aborted). A 1 GiB segment
 * never sits in memory: queueSize x partSizeBytes do. Every request carries the body's CRC32,
 * so S3 refuses bytes corrupted on the way, and is signed UNSIGNED-PAYLOAD (no SHA-256 of
 * the bytes: the checksum protects them).
 *
 * Every put is conditional (If-None-Match: *, on PutObject and on CompleteMultipartUpload),
 * so an object is never replaced. S3 answers 412 when the key exists: the object is then
 * read back (streamed) and counts as stored when its size and CRC32 are this put's (a
 * retry), else TIER_OBJECT_CONFLICT.
 */
import fs from 'node:fs/promises';
import zlib from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CirrusError, type Logger, silentLogger } from '@cirrusmq/client/protocol';
import { checkFileRange, checkKey, checkRange, normalizePrefix } from './object-store-args';
import { type FileRangeBody, objectConflict, type ObjectBody, type ObjectStore, type ObjectStoreRequestCounts, type PutObjectResult } from './object-store';
import { crc32Base64, type UploadedParts, unsignedPayload, uploadFileParts } from './s3-file-parts';

export { createS3Client } from './s3-client';

export interface S3ObjectStoreOptions {
  /** Owned by the store: close() destroys it. See createS3Client for timeouts fit for the tier. */
  client: S3Client;
  bucket: string;
  /** The broker's `{cluster}/{brokerName}/`; a trailing '/' is added when missing. */
  keyPrefix: string;
  /** Multipart part size, at least 5 MiB (S3's minimum). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Default 4. */
  queueSize?: number;
  /** Keys per ListObjectsV2 page, at most 1000 (S3's maximum and default); smaller only in tests. */
  listPageSize?: number;
  logger?: Logger;
}

/** S3 refuses parts under 5 MiB (but the last). */
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** A Buffer body up to this size goes up in one PutObject (S3 takes up to 5 GB in one). */
const MAX_SINGLE_PUT_BYTES = 64 * 1024 * 1024;
/** Keys per DeleteObjects request: S3's limit. */
const DELETE_BATCH = 1000;

export class S3ObjectStore implements ObjectStore {
  readonly requestCounts: ObjectStoreRequestCounts = { put: 0, uploadPart: 0, get: 0, list: 0, delete: 0, errors: 0 };
  readonly location: string;
  private readonly client: S3Client;
  /** The client as Upload sees it: each command it sends is counted (see countingClient). */
  private readonly counted: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;
  private readonly log: Logger;

  constructor(options: S3ObjectStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.keyPrefix);
    this.partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
    this.pageSize = options.listPageSize ?? 1000;
    if (this.partSize < MIN_PART_SIZE) throw new RangeError(`partSizeBytes ${this.partSize} is below S3's minimum of ${MIN_PART_SIZE}`);
    if (this.queueSize < 1) throw new RangeError('queueSize must be at least 1');
    if (this.pageSize < 1 || this.pageSize > 1000) throw new RangeError('listPageSize must be 1..1000');
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.log = (options.logger ?? silentLogger).child({ tier: this.location });
    this.counted = this.countingClient();
  }

  async putObject(key: string, body: ObjectBody): Promise<PutObjectResult> {
    checkKey(key);
    const startedAt = Date.now();
    if (Buffer.isBuffer(body)) {
      const crc32 = zlib.crc32(body);
      // In memory and not huge (write-ahead chunks, extracts): one request, with the checksum
      // computed here by zlib (the SDK would compute it again); parts only pay off for large bodies.
      if (body.length <= MAX_SINGLE_PUT_BYTES) return this.putSmall(key, body, crc32, startedAt);
      return this.putLargeBuffer(key, body, crc32, startedAt);
    }
    await checkFileRange(body);
    const length = body.end - body.start;
    if (length > this.partSize) return this.putFileInParts(key, body, startedAt);
    // One part's worth or less: one PutObject of the bytes read here.
    if (body.pace) await body.pace(length);
    const bytes = await readRange(body);
    return this.putSmall(key, bytes, zlib.crc32(bytes), startedAt);
  }

  /** A Buffer over MAX_SINGLE_PUT_BYTES (no caller makes one today): lib-storage's Upload in parts. */
  private async putLargeBuffer(key: string, body: Buffer, crc32: number, startedAt: number): Promise<PutObjectResult> {
    const upload = new Upload({
      client: this.counted,
      queueSize: this.queueSize,
      partSize: this.partSize,
      // Upload passes the params to PutObject and to CompleteMultipartUpload alike.
      params: { Bucket: this.bucket, Key: this.prefix + key, Body: body, ChecksumAlgorithm: ChecksumAlgorithm.CRC32, IfNoneMatch: '*' },
    });
    const out = { size: body.length, crc32 };
    try {
      await upload.done();
    } catch (e) {
      // Not counted here: the failed command itself was counted by the counting client.
      if (!isPreconditionFailed(e)) throw this.mapError(e, key, 'put');
      await this.expectSameObject(key, out);
    }
    this.log.debug('tier object uploaded', { key, size: out.size, multipart: upload.uploadId !== undefined, ms: Date.now() - startedAt });
    return out;
  }

  /** A file range larger than a part: our own multipart upload (s3-file-parts.ts), completed only if the key is free. */
  private async putFileInParts(key: string, body: FileRangeBody, startedAt: number): Promise<PutObjectResult> {
    let uploaded: UploadedParts | undefined;
    let exists = false;
    try {
      uploaded = await uploadFileParts(this.counted, { bucket: this.bucket, key: this.prefix + key, partSize: this.partSize, queueSize: this.queueSize }, body);
      await this.counted.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          UploadId: uploaded.uploadId,
          MultipartUpload: { Parts: uploaded.parts },
          IfNoneMatch: '*',
        }),
      );
    } catch (e) {
      // An upload that did not complete holds its parts in S3 (and on the bill) until aborted.
      const uploadId = uploaded?.uploadId ?? (e as { uploadId?: string }).uploadId;
      if (uploadId) await this.abort(key, uploadId);
      if (!uploaded || !isPreconditionFailed(e)) throw this.mapError(e, key, 'put');
      exists = true;
    }
    if (exists) await this.expectSameObject(key, uploaded.result);
    this.log.debug('tier object uploaded', { key, size: uploaded.result.size, multipart: true, ms: Date.now() - startedAt });
    return uploaded.result;
  }

  private async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId }));
    } catch (e) {
      this.log.warn('tier: could not abort a failed multipart upload (a bucket lifecycle rule for incomplete uploads cleans it)', {
        key,
        uploadId,
        message: (e as Error).message,
      });
    }
  }

  private async putSmall(key: string, body: Buffer, crc32: number, startedAt: number): Promise<PutObjectResult> {
    try {
      await this.counted.send(
        // The CRC32 header protects the bytes (S3 checks it): no SHA-256 of them for the signature.
        unsignedPayload(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.prefix + key,
            Body: body,
            ChecksumAlgorithm: ChecksumAlgorithm.CRC32,
            ChecksumCRC32: crc32Base64(crc32),
            IfNoneMatch: '*',
          }),
        ),
      );
    } catch (e) {
      if (!isPreconditionFailed(e)) throw this.mapError(e, key, 'put');
      await this.expectSameObject(key, { size: body.length, crc32 });
    }
    this.log.debug('tier object uploaded', { key, size: body.length, multipart: false, ms: Date.now() - startedAt });
    return { size: body.length, crc32 };
  }

  /** The key exists: fine when it holds these bytes (a retried put), else TIER_OBJECT_CONFLICT. Streamed: segments are large. */
  private async expectSameObject(key: string, wanted: PutObjectResult): Promise<void> {
    let existing: PutObjectResult;
    try {
      const res = await this.counted.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      let crc = 0;
      let size = 0;
      for await (const chunk of (res.Body as AsyncIterable<Uint8Array> | undefined) ?? []) {
        crc = zlib.crc32(chunk, crc);
        size += chunk.length;
      }
      existing = { size, crc32: crc };
    } catch (e) {
      throw this.mapError(e, key, 'put (compare)');
    }
    if (existing.size !== wanted.size || existing.crc32 !== wanted.crc32) {
      this.requestCounts.errors++;
      throw objectConflict(key, this.location, existing, wanted);
    }
    this.log.info('tier object already stored with the same bytes', { key, size: wanted.size });
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    checkKey(key);
    checkRange(start, end);
    if (start === end) return Buffer.alloc(0);
    return this.get(key, `bytes=${start}-${end - 1}`);
  }

  async getObject(key: string): Promise<Buffer> {
    checkKey(key);
    return this.get(key, undefined);
  }

  async list(keyPrefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.counted.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + keyPrefix, ContinuationToken: token, MaxKeys: this.pageSize }),
        );
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key.slice(this.prefix.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.mapError(e, keyPrefix, 'list');
    }
    // S3 lists in UTF-8 byte order; sort anyway so both stores answer the same order.
    return keys.sort();
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    keys.forEach(checkKey);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let errors: { Key?: string; Code?: string; Message?: string }[];
      try {
        const res = await this.counted.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.prefix + k })), Quiet: true },
          }),
        );
        errors = res.Errors ?? [];
      } catch (e) {
        throw this.mapError(e, batch[0]!, 'delete');
      }
      // A missing key is not an error to S3; any listed here is (AccessDenied, InternalError).
      if (errors.length > 0) {
        this.requestCounts.errors++;
        const first = errors[0]!;
        throw new CirrusError(
          'TIER_UNAVAILABLE',
          `${this.location}: ${errors.length} of ${batch.length} deletes failed, first ${first.Key}: ${first.Code} ${first.Message ?? ''}`,
        );
      }
    }
  }

  close(): void {
    this.client.destroy();
  }

  private async get(key: string, range: string | undefined): Promise<Buffer> {
    try {
      const res = await this.counted.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: range }));
      if (!res.Body) return Buffer.alloc(0);
      const bytes = await res.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      // A range starting at or past the end: S3 answers 416; the contract says "fewer bytes".
      if (range !== undefined && (errorName(e) === 'InvalidRange' || httpStatus(e) === 416)) return Buffer.alloc(0);
      throw this.mapError(e, key, 'get');
    }
  }

  /**
   * Only S3's own NoSuchKey is a missing object: TIER_OBJECT_NOT_FOUND is not retriable and
   * tells the broker data is gone, so a bare 404 (a proxy, a wrong endpoint) must not pass
   * for it, nor NoSuchBucket (misconfiguration). Those and everything else (network,
   * timeouts, 5xx, throttling, access denied) are TIER_UNAVAILABLE, the SDK error as `cause`.
   * (Without s3:ListBucket, S3 answers a missing key with 403: that is TIER_UNAVAILABLE too.)
   */
  private mapError(e: unknown, key: string, op: string): CirrusError {
    if (e instanceof CirrusError) return e;
    const name = errorName(e);
    const status = httpStatus(e);
    if (name === 'NoSuchKey') {
      return new CirrusError('TIER_OBJECT_NOT_FOUND', `no object ${key} in ${this.location}`, { cause: e });
    }
    const message = e instanceof Error ? e.message : String(e);
    this.log.warn('tier request failed', { op, key, error: name, status, message });
    return new CirrusError('TIER_UNAVAILABLE', `${op} ${key} on ${this.location} failed: ${name ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${message}`, {
      cause: e,
    });
  }

  /**
   * Upload sends its commands itself, so counting happens around the client's send: a view
   * of the client whose send() counts each command (after the SDK's retries, so a request
   * here is one logical request) and every failure. Create+Complete count as one put, as
   * the caller thinks of one object; UploadPart apart; AbortMultipartUpload not at all.
   */
  private countingClient(): S3Client {
    const client = this.client;
    const realSend = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
    const counts = this.requestCounts;
    const send = async (command: unknown, ...rest: unknown[]) => {
      if (command instanceof PutObjectCommand || command instanceof CreateMultipartUploadCommand) counts.put++;
      else if (command instanceof UploadPartCommand) counts.uploadPart++;
      else if (command instanceof GetObjectCommand) counts.get++;
      else if (command instanceof ListObjectsV2Command) counts.list++;
      else if (command instanceof DeleteObjectsCommand) counts.delete++;
      try {
        return await realSend(command, ...rest);
      } catch (e) {
        // A 416 on a past-the-end range is an answer, not a failure.
        if (!(command instanceof GetObjectCommand && httpStatus(e) === 416)) counts.errors++;
        throw e;
      }
    };
    return new Proxy(client, {
      get: (target, prop) => (prop === 'send' ? send : Reflect.get(target, prop, target)),
    });
  }
}

/** The bytes of a small file range, read whole; a short read means the file shrank under the upload. */
async function readRange(body: FileRangeBody): Promise<Buffer> {
  const length = body.end - body.start;
  const buf = Buffer.allocUnsafe(length);
  const fh = await fs.open(body.filePath, 'r');
  try {
    for (let done = 0; done < length; ) {
      const { bytesRead } = await fh.read(buf, done, length - done, body.start + done);
      if (bytesRead === 0) throw new CirrusError('INTERNAL', `upload source ${body.filePath} ended at ${body.start + done}, before ${body.end}`);
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return buf;
}

/** S3's answer to a conditional put on an existing key (412). */
function isPreconditionFailed(e: unknown): boolean {
  return errorName(e) === 'PreconditionFailed' || httpStatus(e) === 412;
}

function errorName(e: unknown): string | undefined {
  const n = (e as { name?: unknown } | undefined)?.name;
  return typeof n === 'string' ? n : undefined;
}

function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
