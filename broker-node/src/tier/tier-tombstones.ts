/**
 * The tier's copy of the deleted topics (store/topic-tombstones.ts). A restore onto a wiped
 * disk rebuilds queues from the tiered segments' extracts; without the tombstones a deleted
 * topic's records would come back, or mix with those of the topic created again since.
 *
 *   meta/topic-tombstones/{20-digit version}   the whole table, as the local file holds it
 *
 * Each change is a new version (versioned-objects.ts); a restore reads the newest. Once a version is stored, the older ones are deleted (best effort: a
 * leftover costs a few bytes, and the newest still wins). Versions come from a listing at
 * the first write of a run, so a restart or a restored broker continues after the newest.
 *
 * Writes coalesce: a change during a write is covered by the next one. `sync()` resolves
 * once the tier holds the table as it was when sync() was called.
 */
import { CirrusError, type Logger } from '@cirrusmq/client/protocol';
import { parseTombstones, type TopicTombstone } from '../store/topic-tombstones';
import type { ObjectStore } from './object-store';
import { listVersions, StaleVersions, versionedKey } from './versioned-objects';

export const TOMBSTONES_PREFIX = 'meta/topic-tombstones/';

const tombstonesKey = (version: number): string => versionedKey(TOMBSTONES_PREFIX, version);

/** The newest stored table (empty when the tier has none). A newest version that does not parse stops the restore: going on could bring deleted topics back. */
export async function readTierTombstones(store: ObjectStore): Promise<{ table: Map<string, TopicTombstone>; key?: string }> {
  const newest = (await listVersions(store, TOMBSTONES_PREFIX)).at(-1);
  if (!newest) return { table: new Map() };
  const bytes = await store.getObject(newest.key);
  return { table: parseTombstones(bytes.toString('utf8'), `${store.location}/${newest.key}`), key: newest.key };
}

export class TierTombstoneCopy {
  /** Bumped by each local change; `storedGeneration` is the one the tier holds. */
  private generation = 1;
  /** 0: not known to match the local table yet (a run's first sync compares them). */
  private storedGeneration = 0;
  private writing: Promise<void> | undefined;
  /** Known once listed: the newest stored version, and the older keys still to delete. */
  private newest: { version: number; bytes: Buffer } | undefined;
  private listed = false;
  private readonly stale: StaleVersions;

  constructor(
    private readonly store: ObjectStore,
    private readonly snapshot: () => Buffer,
    private readonly logger: Logger,
  ) {
    this.stale = new StaleVersions(store, logger, 'older copies of the deleted topics');
  }

  /** The local table changed (durably), to be copied by the next sync(). */
  markChanged(): void {
    this.generation++;
  }

  /** The local table changed (durably): it goes up now, after the write in flight. */
  changed(): void {
    this.generation++;
    this.sync().catch((err: unknown) => this.logger.warn('tier: could not copy the deleted topics to the tier yet; retried before the next upload', { err }));
  }

  /** Whether the tier may lack a local change (sends with durability `s3` wait for it). */
  get behind(): boolean {
    return this.storedGeneration < this.generation;
  }

  /** Resolves once the tier holds the table as it is now; rejects when a write fails. */
  async sync(): Promise<void> {
    const target = this.generation;
    while (this.storedGeneration < target) {
      this.writing ??= this.writeOnce().finally(() => {
        this.writing = undefined;
      });
      await this.writing;
    }
  }

  private async writeOnce(): Promise<void> {
    const generation = this.generation;
    const bytes = this.snapshot();
    if (!this.listed) await this.list();
    // No version yet holds the same as an empty table: a broker that never deleted anything writes nothing.
    const same = this.newest ? this.newest.bytes.equals(bytes) : parseTombstones(bytes.toString('utf8'), 'the local table').size === 0;
    if (same) {
      this.storedGeneration = Math.max(this.storedGeneration, generation);
      return;
    }
    const version = (this.newest?.version ?? 0) + 1;
    try {
      await this.store.putObject(tombstonesKey(version), bytes);
    } catch (err) {
      // A version this run did not list (written since by a run it cannot see): list again next time, never overwrite.
      if (err instanceof CirrusError && err.code === 'TIER_OBJECT_CONFLICT') this.listed = false;
      throw err;
    }
    if (this.newest) this.stale.add(tombstonesKey(this.newest.version));
    this.newest = { version, bytes };
    this.storedGeneration = Math.max(this.storedGeneration, generation);
    await this.stale.delete();
  }

  private async list(): Promise<void> {
    const versions = await listVersions(this.store, TOMBSTONES_PREFIX);
    const newest = versions.at(-1);
    this.newest = newest ? { version: newest.version, bytes: await this.store.getObject(newest.key) } : undefined;
    this.stale.add(...versions.slice(0, -1).map((v) => v.key));
    this.listed = true;
  }
}
