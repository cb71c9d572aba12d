/**
 * The ObjectStore on S3: objects are `s3://{bucket}/{keyPrefix}{key}`.
 *
 * putObject goes through lib-storage's Upload: a body under partSizeBytes is one PutObject,
 * a larger one a multipart upload with queueSize parts in flight, which S3 shows only once
 * CompleteMultipartUpload succeeds (and Upload aborts on failure). A file-range body is
 * streamed from disk through a CRC32 tap, so a 1 GiB segment never sits in memory: at most
 * queueSize x partSizeBytes do. Parts also carry S3's own CRC32 checksum, so S3 refuses a
 * part corrupted on the way.
 *
 * Every put is conditional (If-None-Match: *, on PutObject and on CompleteMultipartUpload),
 * so an object is never replaced. S3 answers 412 when the key exists: the object is then
 * read back (streamed) and counts as stored when its size and CRC32 are this put's (a
 * retry), else TIER_OBJECT_CONFLICT.
 */
import fs from 'node:fs';
import { pipeline, Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  ChecksumAlgorithm,
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
/** Read size when streaming a file range to S3. */
const READ_CHUNK_BYTES = 1024 * 1024;

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
    let source: Buffer | Readable;
    let result: () => PutObjectResult;
    if (Buffer.isBuffer(body)) {
      const crc32 = zlib.crc32(body);
      // In memory and not huge (write-ahead chunks, extracts): one request, with the checksum
      // computed here by zlib (the SDK would compute it again in JS); parts only pay off for streams.
      if (body.length <= MAX_SINGLE_PUT_BYTES) return this.putSmall(key, body, crc32, startedAt);
      source = body;
      result = () => ({ size: body.length, crc32 });
    } else {
      await checkFileRange(body);
      const tap = crcTap(body);
      source = tap.stream;
      result = tap.result;
    }
    const upload = new Upload({
      client: this.counted,
      queueSize: this.queueSize,
      partSize: this.partSize,
      // Upload passes the params to PutObject and to CompleteMultipartUpload alike.
      params: { Bucket: this.bucket, Key: this.prefix + key, Body: source, ChecksumAlgorithm: ChecksumAlgorithm.CRC32, IfNoneMatch: '*' },
    });
    let exists = false;
    try {
      await upload.done();
    } catch (e) {
      // Not counted here: the failed command itself was counted by the counting client.
      if (!isPreconditionFailed(e)) throw this.mapError(e, key, 'put');
      exists = true;
    } finally {
      // An upload that failed early stops reading: close the source file now, not at GC.
      if (!Buffer.isBuffer(source)) source.destroy();
    }
    const out = result();
    if (exists) await this.expectSameObject(key, out);
    this.log.debug('tier object uploaded', { key, size: out.size, multipart: upload.uploadId !== undefined, ms: Date.now() - startedAt });
    return out;
  }

  private async putSmall(key: string, body: Buffer, crc32: number, startedAt: number): Promise<PutObjectResult> {
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32);
    try {
      await this.counted.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: body,
          ChecksumAlgorithm: ChecksumAlgorithm.CRC32,
          ChecksumCRC32: checksum.toString('base64'),
          IfNoneMatch: '*',
        }),
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

/**
 * The file range as a stream, its CRC32 and length computed as Upload reads it. result()
 * is read after the upload completed, so every byte has passed the tap; a short count
 * means the file shrank under the upload, which must not pass as a whole object.
 */
function crcTap(body: FileRangeBody): { stream: Readable; result: () => PutObjectResult } {
  let crc = 0;
  let size = 0;
  const pace = body.pace;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      crc = zlib.crc32(chunk, crc);
      size += chunk.length;
      // Paced: the chunk passes once the pace allows it, and the file is read no faster (backpressure).
      if (pace) pace(chunk.length).then(() => done(null, chunk), done);
      else done(null, chunk);
    },
  });
  const expected = body.end - body.start;
  if (expected === 0) {
    tap.end();
  } else {
    const src = fs.createReadStream(body.filePath, { start: body.start, end: body.end - 1, highWaterMark: READ_CHUNK_BYTES });
    // A read error destroys the tap with it, which fails the upload (and aborts the multipart).
    pipeline(src, tap, () => {});
  }
  return {
    stream: tap,
    result: () => {
      if (size !== expected) throw new CirrusError('INTERNAL', `upload source ${body.filePath} gave ${size} bytes, expected ${expected}`);
      return { size, crc32: crc };
    },
  };
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
