/**
 * Where the local CommitLog will end once recovery has run, found without changing a byte:
 * the tier compares it with its own end before the store loads (tiered-storage.ts), and a
 * log that comes back behind the tier is set aside whole, never truncated first.
 *
 * The walk is recovery's (CommitLog.recover): from the checkpoint's flushed offset (the last
 * segment when the checkpoint lies past the files; the whole log without a checkpoint),
 * every record verified, crossing BLANK fillers; when the record at the checkpoint does not
 * verify, from its segment's start. Only the answer is kept: nothing is truncated here.
 */
import path from 'node:path';
import { CHECKPOINT_FILE, readCheckpointFile } from '../store/store-checkpoint';
import { MappedFileQueue } from '../store/mapped-file-queue';
import { SegmentScanner } from '../store/segment-scanner';

export interface LocalLogEnd {
  /** The offset recovery will keep the log up to. */
  end: number;
  /** Where the segment files end (the log holds no byte past this). */
  filesEnd: number;
  /** Why the walk stopped (a torn record, or never-written zeros). */
  reason?: string;
}

export function probeLocalLogEnd(storeDir: string, segmentBytes: number): LocalLogEnd {
  const queue = new MappedFileQueue(path.join(storeDir, 'commitlog'), segmentBytes);
  queue.load();
  try {
    const files = queue.mappedFiles;
    if (files.length === 0) return { end: 0, filesEnd: 0 };
    const last = files.at(-1)!;
    const min = files[0]!.fileFromOffset;
    const filesEnd = last.fileFromOffset + last.fileSize;
    const checkpoint = readCheckpointFile(path.join(storeDir, CHECKPOINT_FILE))?.physicOffset;
    let start = checkpoint === undefined ? min : checkpoint > filesEnd ? last.fileFromOffset : Math.max(checkpoint, min);
    let result = walk(queue, start);
    const holder = queue.findMappedFileByOffset(start);
    if (result.corrupt && result.end === start && holder && holder.fileFromOffset < start) {
      start = holder.fileFromOffset;
      result = walk(queue, start);
    }
    return { end: result.end, filesEnd, reason: result.reason };
  } finally {
    queue.shutdown();
  }
}

function walk(queue: MappedFileQueue, from: number): { end: number; corrupt: boolean; reason?: string } {
  const scanner = new SegmentScanner();
  for (let offset = from; ; ) {
    const file = queue.findMappedFileByOffset(offset);
    if (!file) return { end: offset, corrupt: false };
    const r = scanner.scan(file, offset - file.fileFromOffset, { verifyFrom: 0 });
    if (r.status !== 'SEGMENT_FULL') return { end: file.fileFromOffset + r.position, corrupt: r.status === 'CORRUPT', reason: r.reason ?? r.status };
    offset = file.fileFromOffset + file.fileSize;
  }
}
