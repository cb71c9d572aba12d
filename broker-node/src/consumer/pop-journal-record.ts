/**
 * The state changes of POP, as small records: what a journal writes and a restart replays.
 * A queue is (group, topic, queueId).
 */
export type PopJournalRecord =
  /** A delivery: lease of `offset` until `deadline`, with its attempt and generation; the cursor moved to `cursor`. */
  | { t: 'POP'; g: string; topic: string; q: number; offset: number; attempt: number; gen: number; deadline: number; cursor: number }
  /** The cursor moved without a delivery (filtered units skipped, start offset chosen). */
  | { t: 'CURSOR'; g: string; topic: string; q: number; cursor: number }
  | { t: 'ACK'; g: string; topic: string; q: number; offset: number }
  | { t: 'CHANGE'; g: string; topic: string; q: number; offset: number; gen: number; deadline: number }
  /** Released (RELEASE_INVISIBLE_MS): deliverable again at once, `attempt` deliveries counted so far. */
  | { t: 'RELEASE'; g: string; topic: string; q: number; offset: number; attempt: number; gen: number }
  /** Dead-lettered: resolved like an ack, its copy is in %DLQ%{group}. */
  | { t: 'DLQ'; g: string; topic: string; q: number; offset: number }
  /** A commit: every lease below `cursor` resolved, cursor at least `cursor`. */
  | { t: 'COMMIT'; g: string; topic: string; q: number; cursor: number }
  /** The topic was deleted here: every group's state on it goes (a topic created again starts its offsets at 0). */
  | { t: 'FORGET'; topic: string }
  /** A reset: every lease ended, cursor set to `cursor` (may move back). */
  | { t: 'RESET'; g: string; topic: string; q: number; cursor: number };

/** Where the records go (pop-journal.ts); the service works without one (state in memory only). */
export interface PopJournal {
  append(record: PopJournalRecord): void;
  /** Resolves once the records appended so far are stored at the store's durability. */
  sync(): Promise<void>;
}
