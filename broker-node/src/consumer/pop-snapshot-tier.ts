/**
 * The tier's copies of the POP snapshot (pop-snapshot.ts), so a broker restored onto a wiped
 * disk starts from the newest one instead of the whole journal the tier still keeps, and so
 * state older than the tier's retention survives (the journal bytes below a restorable copy
 * may go; retention is held above it, see PopStateKeeper.retentionHold).
 *
 *   consumer/snapshot/{20-digit journal offset}   the snapshot as the local file holds it
 *
 * Each copy is a new version (tier/versioned-objects.ts), numbered by the journal offset it
 * covers (a copy at the same offset holds the same state: skipped).
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
import { listVersions, StaleVersions, versionedKey } from '../tier/versioned-objects';
import { type PopSnapshot, parsePopSnapshot } from './pop-snapshot';

export const TIER_SNAPSHOT_PREFIX = 'consumer/snapshot/';

export type SnapshotObjects = Pick<ObjectStore, 'getObject' | 'putObject' | 'list' | 'deleteObjects'>;

const tierSnapshotKey = (journalOffset: number): string => versionedKey(TIER_SNAPSHOT_PREFIX, journalOffset);

/** What retention and pruning need of a stored copy (not its state: a million leases would stay in memory twice). */
export interface StoredCopy {
  journalOffset: number;
  /** The CommitLog's end when it was taken (undefined: unknown, as for a copy listed but not read). */
  commitLogOffset: number | undefined;
}

export class TierPopSnapshotCopy {
  /** The copies this run knows are stored, oldest first. */
  private copies: StoredCopy[] = [];
  private listed = false;
  private readonly stale: StaleVersions;

  constructor(
    private readonly store: SnapshotObjects,
    logger: Logger,
    /** The CommitLog offset below which the tier holds every byte (restorable onto a wiped disk). */
    private readonly durableEnd: () => number = () => Number.POSITIVE_INFINITY,
  ) {
    this.stale = new StaleVersions(store, logger, 'older pop snapshots');
  }

  /**
   * The newest stored snapshot at or below `maxJournalOffset`. Newer ones name journal records
   * this log does not hold (lost with a disk, or never tiered): they are deleted, since the
   * journal will give their offsets to other records.
   */
  async readNewest(maxJournalOffset: number): Promise<PopSnapshot | undefined> {
    const all = await listVersions(this.store, TIER_SNAPSHOT_PREFIX);
    this.listed = true;
    this.copies = [];
    let found: PopSnapshot | undefined;
    for (let i = all.length - 1; i >= 0; i--) {
      const c = all[i]!;
      if (found || c.version > maxJournalOffset) {
        this.stale.add(c.key);
        continue;
      }
      const s = parsePopSnapshot((await this.store.getObject(c.key)).toString('utf8'));
      if (!s) continue;
      found = s;
      this.copies = [{ journalOffset: c.version, commitLogOffset: s.commitLogOffset }];
    }
    await this.stale.delete();
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
    }
    const keep = this.restorable();
    if (keep) {
      const older = this.copies.filter((c) => c.journalOffset < keep.journalOffset);
      this.copies = this.copies.filter((c) => c.journalOffset >= keep.journalOffset);
      this.stale.add(...older.map((c) => tierSnapshotKey(c.journalOffset)));
    }
    await this.stale.delete();
  }
}
