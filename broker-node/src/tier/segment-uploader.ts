/**
 * Who does a sealed segment's upload work (segment-upload.ts) for TierUploadService: the
 * broker's own event loop (InlineSegmentUploader), or a child process at a low CPU priority
 * (ProcessSegmentUploader, the default of a broker process; docs/architecture.md, "A seal's
 * upload runs at a low CPU priority").
 */
import type { ObjectStore } from './object-store';
import { type SealedSegment, type SegmentUploadResult, uploadSegmentObjects } from './segment-upload';

export interface SegmentUploader {
  /**
   * Gets ready before the first seal: starting the uploader process then, in the middle of
   * the sends, cost them tens of milliseconds (a fork of the broker, the module loading).
   */
  start(): void;
  /** One segment at a time; `bytesPerSec` paces it (0: no limit) until setRate changes it. */
  upload(segment: SealedSegment, spillDir: string, bytesPerSec: number): Promise<SegmentUploadResult>;
  /** The pace of the upload in flight, from now on (a backlog formed or cleared). */
  setRate(bytesPerSec: number): void;
  /** Ends the work; an upload in flight may fail. */
  close(): Promise<void>;
}

export class InlineSegmentUploader implements SegmentUploader {
  private bytesPerSec = 0;

  constructor(private readonly objectStore: ObjectStore) {}

  start(): void {
    // Nothing to prepare.
  }

  upload(segment: SealedSegment, spillDir: string, bytesPerSec: number): Promise<SegmentUploadResult> {
    this.bytesPerSec = bytesPerSec;
    return uploadSegmentObjects(this.objectStore, segment, spillDir, () => this.bytesPerSec);
  }

  setRate(bytesPerSec: number): void {
    this.bytesPerSec = bytesPerSec;
  }

  async close(): Promise<void> {
    // Nothing runs apart from the caller's own awaits.
  }
}
