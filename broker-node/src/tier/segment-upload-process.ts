/**
 * The uploader process: a child of the broker (process-segment-uploader.ts) that does sealed
 * segments' upload work (segment-upload.ts) at a low CPU priority, so the scan, the CRCs and
 * the copy's kernel time take what the broker's send and consume paths leave, instead of
 * queueing them behind it on a small machine's cores.
 *
 * Messages (IPC), one upload at a time:
 *   parent -> { type: 'init', spec, nice }            first, once
 *             { type: 'upload', id, segment, spillDir, bytesPerSec }
 *             { type: 'rate', bytesPerSec }
 *   child  -> { type: 'done', id, result, counts } | { type: 'failed', id, error, counts }
 *
 * It reads sealed segments and writes tier objects only; the manifest stays the broker's. It
 * exits when the broker's channel closes (the broker exited or was killed).
 */
import fs from 'node:fs';
import os from 'node:os';
import { CirrusError } from '@cirrusmq/client/protocol';
import type { ObjectStore, ObjectStoreRequestCounts } from './object-store';
import { createObjectStore, type ObjectStoreSpec } from './object-store-spec';
import { type SealedSegment, type SegmentUploadResult, uploadSegmentObjects } from './segment-upload';

export type UploaderRequest =
  | { type: 'init'; spec: ObjectStoreSpec; nice: number }
  | { type: 'upload'; id: number; segment: SealedSegment; spillDir: string; bytesPerSec: number }
  | { type: 'rate'; bytesPerSec: number };

export type UploaderReply =
  | { type: 'done'; id: number; result: SegmentUploadResult; counts: ObjectStoreRequestCounts }
  | { type: 'failed'; id: number; error: { code?: string; message: string }; counts: ObjectStoreRequestCounts };

/** Every thread of this process at `nice`: the ones Node started already, and (inherited) the thread pool's, made later. */
function lowerPriority(nice: number): void {
  let tids: string[] = [String(process.pid)];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    // Not Linux: the nice value is the process's.
  }
  for (const tid of tids) {
    try {
      os.setPriority(Number(tid), nice);
    } catch {
      // A thread that ended meanwhile.
    }
  }
}

let store: ObjectStore | undefined;
let bytesPerSec = 0;

function send(reply: UploaderReply): void {
  process.send?.(reply);
}

function takeCounts(): ObjectStoreRequestCounts {
  const c = store!.requestCounts;
  const out = { ...c };
  c.put = c.uploadPart = c.get = c.list = c.delete = c.errors = 0;
  return out;
}

process.on('message', (m: UploaderRequest) => {
  if (m.type === 'init') {
    lowerPriority(m.nice);
    store = createObjectStore(m.spec);
  } else if (m.type === 'rate') {
    bytesPerSec = m.bytesPerSec;
  } else if (m.type === 'upload') {
    bytesPerSec = m.bytesPerSec;
    uploadSegmentObjects(store!, m.segment, m.spillDir, () => bytesPerSec).then(
      (result) => send({ type: 'done', id: m.id, result, counts: takeCounts() }),
      (e: unknown) => {
        const error = e instanceof CirrusError ? { code: e.code, message: e.message } : { message: e instanceof Error ? e.message : String(e) };
        send({ type: 'failed', id: m.id, error, counts: takeCounts() });
      },
    );
  }
});
process.on('disconnect', () => process.exit(0));
