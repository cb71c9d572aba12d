/**
 * A file range's multipart upload, done here instead of by lib-storage's Upload, for what a
 * 1 GiB segment cost through Upload (a stream of 1 MiB chunks, concatenated into each part,
 * a new part buffer each time, the CRC32 computed by our tap and again by the SDK, and a
 * SHA-256 of every part for the signature: ~9 CPU seconds per GiB, a third of it in GC):
 *
 *   - `queueSize` part buffers, allocated once per upload and reused; each part read straight
 *     into one with positioned reads (no stream, no copies);
 *   - one CRC32 per part (zlib), sent as the part's ChecksumCRC32, which S3 verifies, so the
 *     SDK computes none and the payload is sent UNSIGNED-PAYLOAD (no SHA-256: the checksum
 *     already protects the bytes); the object's CRC32 is combined from the parts' (crc32-combine.ts);
 *   - each part waits for the body's pace before it is read.
 *
 * Completing (conditional) and aborting stay with the caller (s3-object-store.ts).
 */
import fs from 'node:fs/promises';
import { CreateMultipartUploadCommand, type CompletedPart, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { CirrusError } from '@cirrusmq/client/protocol';
import { crc32Combine } from './crc32-combine';
import type { FileRangeBody, PutObjectResult } from './object-store';
import { crc32InSteps } from './upload-pacer';

export interface UploadedParts {
  uploadId: string;
  parts: CompletedPart[];
  result: PutObjectResult;
}

/** The header that makes SigV4 skip hashing the payload. */
const SHA256_HEADER = 'x-amz-content-sha256';

/** Sends `command` without a SHA-256 of its body in the signature (its CRC32 header protects it). */
export function unsignedPayload<C extends { middlewareStack: { add: (...a: never[]) => unknown } }>(command: C): C {
  (command.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: { request: { headers: Record<string, string> } }) => {
      args.request.headers[SHA256_HEADER] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'cirrusmqUnsignedPayload' },
  );
  return command;
}

export const crc32Base64 = (crc: number): string => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
};

/**
 * Creates the multipart upload and uploads every part of the range, `queueSize` at a time.
 * On a failure the upload is left for the caller to abort (its id is on the error as `uploadId`).
 */
export async function uploadFileParts(
  client: S3Client,
  target: { bucket: string; key: string; partSize: number; queueSize: number },
  body: FileRangeBody,
): Promise<UploadedParts> {
  const size = body.end - body.start;
  const count = Math.ceil(size / target.partSize);
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, ChecksumAlgorithm: 'CRC32' }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new CirrusError('TIER_UNAVAILABLE', `CreateMultipartUpload for ${target.key} answered no UploadId`);
  const parts: CompletedPart[] = new Array(count);
  const crcs = new Array<number>(count);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(body.filePath, 'r');
    const file = fh;
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(Math.min(target.partSize, size));
      while (failure === undefined && next < count) {
        const i = next++;
        const from = body.start + i * target.partSize;
        const len = Math.min(target.partSize, body.end - from);
        if (body.pace) await body.pace(len);
        for (let done = 0; done < len; ) {
          const { bytesRead } = await file.read(buf, done, len - done, from + done);
          if (bytesRead === 0) throw new CirrusError('INTERNAL', `upload source ${body.filePath} ended at ${from + done}, before ${body.end}`);
          done += bytesRead;
        }
        const part = buf.subarray(0, len);
        const crc = await crc32InSteps(part);
        crcs[i] = crc;
        const checksum = crc32Base64(crc);
        const res = await client.send(
          unsignedPayload(
            new UploadPartCommand({
              Bucket: target.bucket,
              Key: target.key,
              UploadId: uploadId,
              PartNumber: i + 1,
              Body: part,
              ContentLength: len,
              ChecksumCRC32: checksum,
            }),
          ),
        );
        // The request has answered, so the SDK is done with the buffer: the next part reuses it.
        parts[i] = { PartNumber: i + 1, ETag: res.ETag, ChecksumCRC32: checksum };
      }
    };
    // Every worker stops at its next part after a failure; all have stopped before the file closes.
    const guarded = () => worker().catch((e: unknown) => void (failure ??= e));
    await Promise.all(Array.from({ length: Math.min(target.queueSize, count) }, guarded));
    if (failure !== undefined) throw failure;
  } catch (e) {
    throw Object.assign(e as object, { uploadId });
  } finally {
    await fh?.close().catch(() => {});
  }
  let crc = 0;
  for (let i = 0; i < count; i++) crc = crc32Combine(crc, crcs[i]!, Math.min(target.partSize, size - i * target.partSize));
  return { uploadId, parts, result: { size, crc32: crc } };
}
