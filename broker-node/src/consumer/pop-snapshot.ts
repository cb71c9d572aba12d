/**
 * The snapshot that bounds the POP journal's replay: every queue's cursor and leases, and the
 * journal offset they cover, written atomically (tmp, fsync, rename) to the store folder.
 * Without one (a new broker, or a disk restored from the tier) the whole journal kept is replayed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory } from '../store/mapped-file';
import type { LeaseState } from './pop-lease-table';

export interface PopSnapshot {
  version: 1;
  /** Journal records below this queue offset are in the snapshot. */
  journalOffset: number;
  /** The CommitLog's end when the snapshot was taken: journal records after the snapshot lie at or past it (appends are synchronous), so retention may delete what ends below. Absent in snapshots of older builds. */
  commitLogOffset?: number;
  generation: number;
  queues: {
    g: string;
    topic: string;
    q: number;
    cursor: number | undefined;
    /** [offset, attempt, generation, deadline, state], in offset order. */
    leases: [number, number, number, number, LeaseState][];
  }[];
}

function snapshotPath(storeDir: string): string {
  return path.join(storeDir, 'config', 'pop-snapshot.json');
}

export function readPopSnapshot(storeDir: string): PopSnapshot | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(snapshotPath(storeDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parsePopSnapshot(raw);
}

export function parsePopSnapshot(raw: string): PopSnapshot | undefined {
  const s = JSON.parse(raw) as PopSnapshot;
  return s.version === 1 ? s : undefined;
}

/** Writes the snapshot; returns the bytes written (the tier gets the same). */
export async function writePopSnapshot(storeDir: string, s: PopSnapshot): Promise<Buffer> {
  const file = snapshotPath(storeDir);
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const bytes = Buffer.from(JSON.stringify(s));
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  // Retention may drop journal bytes below this snapshot once it is written: its name must survive a power loss too.
  syncDirectory(path.dirname(file));
  return bytes;
}
