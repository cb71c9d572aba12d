/**
 * A sealed segment's three objects, before its manifest entry: the segment's bytes
 * (multipart) while the scan verifies every record and builds the ConsumeQueue extract and
 * the index extract, then the two extracts. Run in the broker (InlineSegmentUploader) or in
 * the uploader process (segment-upload-process.ts), which gives the same work a low CPU
 * priority; TierUploadService commits the manifest entry either way.
 */
import path from 'node:path';
import { offsetToFileName } from '../store/mapped-file';
import { ConsumeQueueExtractBuilder } from './consume-queue-extract';
import { IndexExtractWriter } from './index-extract';
import type { ObjectStore } from './object-store';
import { type SegmentScanSummary, scanSegmentFile } from './segment-file-scanner';
import { UploadPacer } from './upload-pacer';

export const segmentKey = (startOffset: number): string => `commitlog/${offsetToFileName(startOffset)}`;
export const extractKey = (startOffset: number): string => `consumequeue/${offsetToFileName(startOffset)}`;
export const indexExtractKey = (startOffset: number): string => `index/${offsetToFileName(startOffset)}`;

export interface SealedSegment {
  fileName: string;
  fileFromOffset: number;
  fileSize: number;
}

export interface SegmentUploadResult {
  /** CRC32 of the segment object, as the manifest keeps it. */
  crc32: number;
  scan: SegmentScanSummary;
  indexEntries: number;
}

/**
 * `spillDir`: where the index extract is built (one file per segment, removed after).
 * `rate`: bytes per second the copy and the scan may each move, asked at every step (0: no limit).
 */
export async function uploadSegmentObjects(
  objectStore: ObjectStore,
  segment: SealedSegment,
  spillDir: string,
  rate: () => number,
): Promise<SegmentUploadResult> {
  const start = segment.fileFromOffset;
  const extract = new ConsumeQueueExtractBuilder();
  const index = await IndexExtractWriter.create(path.join(spillDir, offsetToFileName(start)));
  // The copy and the scan read the same bytes side by side, each at the rate: the segment is
  // done in about size / rate, and neither runs ahead in a burst.
  const copyPace = new UploadPacer(rate);
  const scanPace = new UploadPacer(rate);
  const pace = (bytes: number) => copyPace.take(bytes);
  const uploading = objectStore.putObject(segmentKey(start), { filePath: segment.fileName, start: 0, end: segment.fileSize, pace });
  // Keep a failed upload from being an unhandled rejection while the scan runs.
  uploading.catch(() => {});
  let scan: SegmentScanSummary;
  try {
    scan = await scanSegmentFile(
      segment.fileName,
      start,
      segment.fileSize,
      (buf, pos, shape, physical) => {
        extract.add(buf, pos, shape, physical);
        return index.add(buf, pos, shape, physical);
      },
      undefined,
      (bytes) => scanPace.take(bytes),
    );
    await objectStore.putObject(extractKey(start), extract.encode());
    const indexBytes = await index.finish();
    await objectStore.putObject(indexExtractKey(start), { filePath: index.filePath, start: 0, end: indexBytes, pace });
  } finally {
    await index.discard();
  }
  const put = await uploading;
  return { crc32: put.crc32, scan, indexEntries: index.entries };
}
