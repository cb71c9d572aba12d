/**
 * Keeps the POP state across restarts: at start, the snapshot then the journal after it;
 * while running, a snapshot every interval (bounding the next replay); at a clean shutdown,
 * a last snapshot.
 */
import type { Logger } from '@cirrusmq/client/protocol';
import type { CommitLogPopJournal } from './pop-journal';
import type { PopService } from './pop-service';
import { readPopSnapshot, writePopSnapshot } from './pop-snapshot';

export const DEFAULT_POP_SNAPSHOT_INTERVAL_MS = 60_000;

export class PopStateKeeper {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly storeDir: string,
    private readonly popService: PopService,
    private readonly journal: CommitLogPopJournal,
    private readonly logger: Logger,
    private readonly snapshotIntervalMs = DEFAULT_POP_SNAPSHOT_INTERVAL_MS,
  ) {}

  async recover(): Promise<void> {
    const t0 = performance.now();
    const snapshot = readPopSnapshot(this.storeDir);
    if (snapshot) this.popService.loadSnapshot(snapshot);
    const replayed = await this.journal.replay(snapshot?.journalOffset ?? 0, (r) => this.popService.applyJournal(r));
    this.popService.journal = this.journal;
    this.popService.start();
    let leases = 0;
    for (const q of this.popService.table.all()) leases += q.inFlight();
    this.logger.info('pop state recovered', { snapshotQueues: snapshot?.queues.length ?? 0, journalRecords: replayed, leases, ms: Math.round(performance.now() - t0) });
    this.timer = setInterval(() => void this.snapshot(), this.snapshotIntervalMs);
    this.timer.unref();
  }

  /** Writes a snapshot of the state now; the journal's next offset is taken in the same turn as the state. */
  snapshot(): Promise<void> {
    if (this.writing) return this.writing;
    const s = this.popService.toSnapshot(this.journal.nextOffset());
    this.writing = writePopSnapshot(this.storeDir, s)
      .catch((err: unknown) => this.logger.error('pop snapshot failed', { err: String(err) }))
      .finally(() => {
        this.writing = undefined;
      });
    return this.writing;
  }

  /** Before the store closes: the journal's last records stored, and a snapshot. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.journal.sync().catch(() => undefined);
    await this.snapshot();
  }
}
