/**
 * The write-ahead chunks in the object store, by their keys: which run of them continues the
 * log from an offset (restore replays it), and which a tiered segment made redundant.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { ObjectStore } from '../object-store';
import { WAL_PREFIX, decodeWalChunk, parseWalChunkKey, type WalPart } from './wal-chunk';

export interface WalChunkRef {
  key: string;
  start: number;
  end: number;
}

export async function listWalChunks(store: ObjectStore): Promise<WalChunkRef[]> {
  const refs: WalChunkRef[] = [];
  for (const key of await store.list(WAL_PREFIX)) {
    const range = parseWalChunkKey(key);
    if (range) refs.push({ key, ...range });
  }
  return refs.sort((a, b) => a.start - b.start || a.end - b.end);
}

/**
 * The chunks that continue the log from `from` without a hole: the first holds `from`, each
 * next one starts where the one before ended. A hole ends the run: a send is acknowledged
 * only once every chunk before its end is stored, so nothing acknowledged lies past a hole.
 */
export function contiguousRunFrom(chunks: readonly WalChunkRef[], from: number): WalChunkRef[] {
  const run: WalChunkRef[] = [];
  let cursor = from;
  for (const c of chunks) {
    if (c.end <= cursor) continue;
    if (c.start > cursor) break;
    run.push(c);
    cursor = c.end;
  }
  return run;
}

/** Where the contiguous run from `from` ends (from itself when there is none). */
export function walEndFrom(chunks: readonly WalChunkRef[], from: number): number {
  return contiguousRunFrom(chunks, from).at(-1)?.end ?? from;
}

/**
 * Replays the run from `from` through `onParts`, in order, each part cut to what lies at or
 * past `from` (the local log may end inside a chunk, even inside one append's part). Chunks
 * are fetched one at a time so a long run is never held at once. Returns the run's end.
 */
export async function replayWalFrom(store: ObjectStore, chunks: readonly WalChunkRef[], from: number, onParts: (parts: WalPart[]) => void): Promise<number> {
  let end = from;
  for (const ref of contiguousRunFrom(chunks, from)) {
    const parts: WalPart[] = [];
    for (const p of decodeWalChunk(await store.getObject(ref.key))) {
      if (p.endOffset <= end) continue;
      const skip = Math.max(0, end - p.physicalOffset);
      parts.push(skip === 0 ? p : { physicalOffset: end, bytes: p.bytes.subarray(Math.min(skip, p.bytes.length)), endOffset: p.endOffset });
      end = p.endOffset;
    }
    onParts(parts);
    end = ref.end;
  }
  return end;
}

/** Deletes the chunks wholly before `offset` (a tiered segment's end). */
export async function deleteWalChunksBefore(store: ObjectStore, offset: number, logger: Logger): Promise<number> {
  const doomed = (await listWalChunks(store)).filter((c) => c.end <= offset);
  if (doomed.length === 0) return 0;
  await store.deleteObjects(doomed.map((c) => c.key));
  logger.info('s3 wal: deleted chunks covered by tiered segments', { chunks: doomed.length, beforeOffset: offset });
  return doomed.length;
}
