/**
 * The tier's copies of the POP snapshot (pop-snapshot.ts), so a broker restored onto a wiped
 * disk starts from the newest one instead of the whole journal the tier still keeps, and so
 * state older than the tier's retention survives (the journal bytes below a restorable copy
 * may go; retention is held above it, see PopStateKeeper.retentionHold).
 *
 *   consumer/snapshot/{20-digit journal offset}   the snapshot as the local file holds it
 *
 * Objects are never replaced (object-store.ts), so each copy is a new key, named by the
 * journal offset it covers (a copy at the same offset holds the same state: skipped).
 *
 * A copy is restorable once the tier also holds every journal record below its offset: a
 * restore that brings back less cannot use it (its offsets would be given to other records).
 * `durableEnd()` says how far the tier holds the CommitLog (the tiered segments; with
 * durability s3 the write-ahead log holds every appended record once the journal synced).
 * Older copies are deleted only once a newer one is restorable (best effort: a leftover
 * costs bytes, the newest usable one still wins), as tier-tombstones.ts does for the deleted
 * topics.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { ObjectStore } from '../tier/object-store';
import { type PopSnapshot, parsePopSnapshot } from './pop-snapshot';

export const TIER_SNAPSHOT_PREFIX = 'consumer/snapshot/';
const DIGITS = 20;

export type SnapshotObjects = Pick<ObjectStore, 'getObject' | 'putObject' | 'list' | 'deleteObjects'>;

export const tierSnapshotKey = (journalOffset: number): string => `${TIER_SNAPSHOT_PREFIX}${String(journalOffset).padStart(DIGITS, '0')}`;

/** What retention and pruning need of a stored copy (not its state: a million leases would stay in memory twice). */
export interface StoredCopy {
  journalOffset: number;
  /** The CommitLog's end when it was taken (undefined: unknown, as for a copy listed but not read). */
  commitLogOffset: number | undefined;
}

/** Stored copies, oldest first. */
async function listCopies(store: SnapshotObjects): Promise<{ key: string; journalOffset: number }[]> {
  const out: { key: string; journalOffset: number }[] = [];
  for (const key of await store.list(TIER_SNAPSHOT_PREFIX)) {
    const rest = key.slice(TIER_SNAPSHOT_PREFIX.length);
    if (key.startsWith(TIER_SNAPSHOT_PREFIX) && /^\d{20}$/.test(rest)) out.push({ key, journalOffset: Number(rest) });
  }
  return out.sort((a, b) => a.journalOffset - b.journalOffset);
}

export class TierPopSnapshotCopy {
  /** The copies this run knows are stored, oldest first. */
  private copies: StoredCopy[] = [];
  private listed = false;
  private readonly stale: string[] = [];
  /** Copies stored by this run (tests, logs). */
  writes = 0;

  constructor(
    private readonly store: SnapshotObjects,
    private readonly logger: Logger,
    /** The CommitLog offset below which the tier holds every byte (restorable onto a wiped disk). */
    private readonly durableEnd: () => number = () => Number.POSITIVE_INFINITY,
  ) {}

  /**
   * The newest stored snapshot at or below `maxJournalOffset`. Newer ones name journal records
   * this log does not hold (lost with a disk, or never tiered): they are deleted, since the
   * journal will give their offsets to other records.
   */
  async readNewest(maxJournalOffset: number): Promise<PopSnapshot | undefined> {
    const all = await listCopies(this.store);
    this.listed = true;
    this.copies = [];
    let found: PopSnapshot | undefined;
    for (let i = all.length - 1; i >= 0; i--) {
      const c = all[i]!;
      if (found || c.journalOffset > maxJournalOffset) {
        this.stale.push(c.key);
        continue;
      }
      const s = parsePopSnapshot((await this.store.getObject(c.key)).toString('utf8'));
      if (!s) continue;
      found = s;
      this.copies = [{ journalOffset: c.journalOffset, commitLogOffset: s.commitLogOffset }];
    }
    await this.deleteStale();
    return found;
  }

  /** The newest copy a restore could use now (its journal wholly in the tier). */
  restorable(): StoredCopy | undefined {
    const end = this.durableEnd();
    for (let i = this.copies.length - 1; i >= 0; i--) {
      const c = this.copies[i]!;
      if (c.commitLogOffset !== undefined && c.commitLogOffset <= end) return c;
    }
    return undefined;
  }

  /** Stores `s` as a new version unless the tier holds one at its journal offset; then deletes the copies older than the newest restorable one. */
  async put(s: PopSnapshot, bytes: Buffer): Promise<void> {
    if (!this.listed) await this.readNewest(s.journalOffset);
    const newest = this.copies.at(-1);
    if (!newest || newest.journalOffset < s.journalOffset) {
      await this.store.putObject(tierSnapshotKey(s.journalOffset), bytes);
      this.copies.push({ journalOffset: s.journalOffset, commitLogOffset: s.commitLogOffset });
      this.writes++;
    }
    const keep = this.restorable();
    if (keep) {
      const older = this.copies.filter((c) => c.journalOffset < keep.journalOffset);
      this.copies = this.copies.filter((c) => c.journalOffset >= keep.journalOffset);
      this.stale.push(...older.map((c) => tierSnapshotKey(c.journalOffset)));
    }
    await this.deleteStale();
  }

  private async deleteStale(): Promise<void> {
    if (this.stale.length === 0) return;
    const keys = this.stale.splice(0);
    try {
      await this.store.deleteObjects(keys);
    } catch (err) {
      this.stale.push(...keys);
      this.logger.warn('tier: could not delete older pop snapshots; retried after the next copy', { keys, err: String(err) });
    }
  }
}
