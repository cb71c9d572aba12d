/**
 * The tier's copies of the POP snapshot (pop-snapshot.ts), so a broker restored onto a wiped
 * disk starts from the newest one instead of the whole journal the tier still keeps, and so
 * state older than the tier's retention survives (the journal bytes below a stored snapshot
 * may go; retention is held above it, see PopStateKeeper.retentionHold).
 *
 *   consumer/snapshot/{20-digit journal offset}   the snapshot as the local file holds it
 *
 * Objects are never replaced (object-store.ts), so each copy is a new key, named by the
 * journal offset it covers (a copy at the same offset holds the same state: skipped). Once a
 * newer copy is stored the older ones are deleted (best effort: a leftover costs bytes, the
 * newest still wins), as tier-tombstones.ts does for the deleted topics.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { ObjectStore } from '../tier/object-store';
import { type PopSnapshot, parsePopSnapshot } from './pop-snapshot';

export const TIER_SNAPSHOT_PREFIX = 'consumer/snapshot/';
const DIGITS = 20;

export type SnapshotObjects = Pick<ObjectStore, 'getObject' | 'putObject' | 'list' | 'deleteObjects'>;

export const tierSnapshotKey = (journalOffset: number): string => `${TIER_SNAPSHOT_PREFIX}${String(journalOffset).padStart(DIGITS, '0')}`;

/** Stored copies, oldest first. */
async function listCopies(store: SnapshotObjects): Promise<{ key: string; journalOffset: number }[]> {
  const out: { key: string; journalOffset: number }[] = [];
  for (const key of await store.list(TIER_SNAPSHOT_PREFIX)) {
    const rest = key.slice(TIER_SNAPSHOT_PREFIX.length);
    if (key.startsWith(TIER_SNAPSHOT_PREFIX) && /^\d{20}$/.test(rest)) out.push({ key, journalOffset: Number(rest) });
  }
  return out.sort((a, b) => a.journalOffset - b.journalOffset);
}

/** What retention needs of a stored copy (not its state: a million leases would stay in memory twice). */
export interface StoredCopy {
  journalOffset: number;
  commitLogOffset: number | undefined;
}

export class TierPopSnapshotCopy {
  /** The newest copy known stored (undefined until listed or written). */
  private newest: StoredCopy | undefined;
  private listed = false;
  private readonly stale: string[] = [];
  /** Copies stored by this run (tests, logs). */
  writes = 0;

  constructor(
    private readonly store: SnapshotObjects,
    private readonly logger: Logger,
  ) {}

  /** The newest stored snapshot at or below `maxJournalOffset` (a newer one names journal records this log does not hold). */
  async readNewest(maxJournalOffset: number): Promise<PopSnapshot | undefined> {
    const copies = await listCopies(this.store);
    this.listed = true;
    for (let i = copies.length - 1; i >= 0; i--) {
      const c = copies[i]!;
      if (c.journalOffset > maxJournalOffset) continue;
      const snapshot = parsePopSnapshot((await this.store.getObject(c.key)).toString('utf8'));
      if (!snapshot) continue;
      this.newest = { journalOffset: c.journalOffset, commitLogOffset: snapshot.commitLogOffset };
      this.stale.push(...copies.filter((o) => o.key !== c.key && o.journalOffset < c.journalOffset).map((o) => o.key));
      return snapshot;
    }
    return undefined;
  }

  /** The newest copy this run knows the tier holds. */
  get stored(): StoredCopy | undefined {
    return this.newest;
  }

  /** Stores `s` as a new version unless the tier already holds one at its journal offset; then deletes the older ones. */
  async put(s: PopSnapshot, bytes: Buffer): Promise<void> {
    if (!this.listed) await this.readNewest(Number.MAX_SAFE_INTEGER);
    if (this.newest && this.newest.journalOffset >= s.journalOffset) return;
    await this.store.putObject(tierSnapshotKey(s.journalOffset), bytes);
    if (this.newest) this.stale.push(tierSnapshotKey(this.newest.journalOffset));
    this.newest = { journalOffset: s.journalOffset, commitLogOffset: s.commitLogOffset };
    this.writes++;
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
