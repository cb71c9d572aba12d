/**
 * Keeps the POP state across restarts: at start, the newest snapshot (the local file or the
 * tier's copy, pop-snapshot-tier.ts) then the journal after it; while running, a snapshot
 * every interval, copied to the tier (bounding the next replay, and the journal bytes
 * retention must keep); at a clean shutdown, a last snapshot.
 *
 * Retention and the journal: the journal lives in the CommitLog, so retention (local, and the
 * tier's overall retention) would delete it with the messages. State below the newest durable
 * snapshot needs no journal; records after it do. retentionHold() is the CommitLog offset
 * retention must not delete past: the CommitLog's end when the newest durable snapshot was
 * taken (the tier's newest restorable copy when there is a tier: a wiped disk restores from it).
 */
import type { Logger } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../periodic-service';
import type { CommitLogPopJournal } from './pop-journal';
import type { PopService } from './pop-service';
import { type PopSnapshot, readPopSnapshot, writePopSnapshot } from './pop-snapshot';
import type { TierPopSnapshotCopy } from './pop-snapshot-tier';

const DEFAULT_POP_SNAPSHOT_INTERVAL_MS = 60_000;

export class PopStateKeeper {
  private timer: PeriodicService | undefined;
  private writing: Promise<void> | undefined;
  /** A snapshot asked for while one was being written: taken once that one is done (it must cover the state at the ask). */
  private next: Promise<void> | undefined;
  /** The newest snapshot written to the local disk this run (its retention hold). */
  private local: Pick<PopSnapshot, 'journalOffset' | 'commitLogOffset'> | undefined;
  /** What recovery loaded and replayed (logs, tests, measurements). */
  recovered: { source: 'none' | 'local' | 'tier'; journalOffset: number; journalRecords: number; leases: number; ms: number } | undefined;

  constructor(
    private readonly storeDir: string,
    private readonly popService: PopService,
    private readonly journal: CommitLogPopJournal,
    private readonly logger: Logger,
    private readonly snapshotIntervalMs = DEFAULT_POP_SNAPSHOT_INTERVAL_MS,
    /** The CommitLog's end now (a snapshot records it: see retentionHold). */
    private readonly commitLogEnd: () => number = () => 0,
    private readonly tier?: TierPopSnapshotCopy,
  ) {}

  async recover(): Promise<void> {
    const t0 = performance.now();
    const end = this.journal.nextOffset();
    let snapshot = readPopSnapshot(this.storeDir);
    let source: 'none' | 'local' | 'tier' = snapshot ? 'local' : 'none';
    if (snapshot && snapshot.journalOffset > end) {
      // A snapshot of a log this store no longer holds (its files were set aside and restored from the tier): it names records that are not these.
      this.logger.warn('pop snapshot past the journal end, ignored', { journalOffset: snapshot.journalOffset, journalEnd: end });
      snapshot = undefined;
      source = 'none';
    }
    if (this.tier) {
      try {
        const copy = await this.tier.readNewest(end);
        if (copy && copy.journalOffset > (snapshot?.journalOffset ?? -1)) {
          snapshot = copy;
          source = 'tier';
        }
      } catch (err) {
        if (!snapshot) throw err;
        this.logger.warn('pop snapshot: the tier could not be read; the local snapshot is used', { err: String(err) });
      }
    }
    if (snapshot) this.popService.loadSnapshot(snapshot);
    const replayed = await this.journal.replay(snapshot?.journalOffset ?? 0, (r) => this.popService.applyJournal(r));
    this.popService.journal = this.journal;
    this.popService.start();
    let leases = 0;
    for (const q of this.popService.table.all()) leases += q.inFlight();
    this.recovered = { source, journalOffset: snapshot?.journalOffset ?? 0, journalRecords: replayed, leases, ms: Math.round(performance.now() - t0) };
    this.logger.info('pop state recovered', { ...this.recovered, snapshotQueues: snapshot?.queues.length ?? 0 });
    // A snapshot now: the next replay starts here, retention gets its hold without waiting an interval, and an ignored local snapshot is replaced.
    void this.snapshot();
    this.timer = new PeriodicService('PopSnapshotService', this.snapshotIntervalMs, () => this.snapshot(), this.logger);
    this.timer.start();
  }

  /**
   * Retention may delete CommitLog segments that end at or below this offset: the journal
   * after the newest durable snapshot lies past it. Before any snapshot, a journal with
   * records holds everything (0); an empty one, or none since the snapshot, holds nothing.
   */
  retentionHold(): number {
    // Until the state is recovered nothing is known of what the journal still needs.
    if (!this.recovered) return 0;
    const durable = this.tier ? this.tier.restorable() : this.local;
    const next = this.journal.nextOffset();
    // Nothing journaled since (an idle group, no consumers at all): records to come go at the CommitLog's end, which retention never reaches.
    if (durable && durable.journalOffset >= next) return Number.POSITIVE_INFINITY;
    if (durable?.commitLogOffset !== undefined) return durable.commitLogOffset;
    return next === 0 ? Number.POSITIVE_INFINITY : 0;
  }

  /** Writes a snapshot of the state now, then its tier copy; the journal's next offset and the CommitLog's end are taken in the same turn as the state. */
  snapshot(): Promise<void> {
    if (this.writing) {
      this.next ??= this.writing.then(() => {
        this.next = undefined;
        return this.snapshot();
      });
      return this.next;
    }
    const s = this.popService.toSnapshot(this.journal.nextOffset());
    s.commitLogOffset = this.commitLogEnd();
    this.writing = writePopSnapshot(this.storeDir, s)
      .then(async (bytes) => {
        this.local = { journalOffset: s.journalOffset, commitLogOffset: s.commitLogOffset };
        if (!this.tier) return;
        // The records the snapshot covers stored first (durability s3: in the tier's write-ahead log), so a restore that finds the copy finds them.
        await this.journal.sync();
        await this.tier
          .put(s, bytes)
          .catch((err: unknown) => this.logger.warn('pop snapshot: tier copy failed; retried at the next snapshot', { err: String(err) }));
      })
      .catch((err: unknown) => this.logger.error('pop snapshot failed', { err: String(err) }))
      .finally(() => {
        this.writing = undefined;
      });
    return this.writing;
  }

  /** Before the store closes: the journal's last records stored, and a snapshot. */
  async close(): Promise<void> {
    await this.timer?.shutdown();
    await this.next;
    await this.writing;
    await this.journal.sync().catch(() => undefined);
    await this.snapshot();
  }
}
