/**
 * Moves a store folder's log and what was built from it (CommitLog, ConsumeQueues, key
 * index, checkpoint) into `{storeDir}/lost+found/{time}/`, so a restore can lay the folder
 * out again without deleting what may be the only copy of some bytes: an operator can still
 * read them. Renames only, in one file system, each made durable by a directory sync.
 *
 * What stays: the folder itself (its inode names the store lock, client/src/folder-lock.ts),
 * its lock file, earlier lost+found folders, and every file that is not derived from the
 * log (the deleted topics' table is copied, not moved: a delete acknowledged here must
 * survive the restore, which merges the tier's copy into it). Nothing in the store reads
 * lost+found: its folders are left for an operator to remove.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory } from '../store/mapped-file';
import { CHECKPOINT_FILE } from '../store/store-checkpoint';
import { TOMBSTONE_FILE } from '../store/topic-tombstones';

export const LOST_AND_FOUND = 'lost+found';

/** The entries derived from the log (message-store.ts, commit-log.ts, index-service.ts; 'deleted-queues' waits for a delete's files). */
const LOG_ENTRIES = ['commitlog', 'consumequeue', 'index', CHECKPOINT_FILE, `${CHECKPOINT_FILE}.tmp`, 'deleted-queues'];

/** Moves the log's entries aside; returns the folder that keeps them. */
export function setStoreAside(storeDir: string, now = new Date()): string {
  const parent = path.join(storeDir, LOST_AND_FOUND);
  fs.mkdirSync(parent, { recursive: true });
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  let kept = path.join(parent, stamp);
  for (let i = 1; fs.existsSync(kept); i++) kept = path.join(parent, `${stamp}-${i}`);
  fs.mkdirSync(kept);
  syncDirectory(parent);
  for (const name of LOG_ENTRIES) {
    const from = path.join(storeDir, name);
    if (fs.existsSync(from)) fs.renameSync(from, path.join(kept, name));
  }
  const tombstones = path.join(storeDir, TOMBSTONE_FILE);
  if (fs.existsSync(tombstones)) fs.copyFileSync(tombstones, path.join(kept, TOMBSTONE_FILE));
  syncDirectory(kept);
  syncDirectory(storeDir);
  return kept;
}
