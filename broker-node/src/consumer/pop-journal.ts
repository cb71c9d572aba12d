/**
 * The POP journal: state changes (pop-journal-record.ts) appended to the broker's own
 * CommitLog under the system topic rmq_sys_POP_JOURNAL (queue 0), so they get the store's
 * durability as they are (ASYNC_FLUSH, SYNC_FLUSH group commit, the s3 write-ahead log) and a
 * broker restored from its tier replays them. Records appended in one turn of the event loop
 * go as one message (pop-journal-codec.ts, at most MAX_RECORDS_PER_MESSAGE), so a receive of 32 is
 * one append, not 32. No DynamoDB write per receive or ack.
 *
 * A snapshot (pop-snapshot.ts) bounds the replay: a restart loads it and replays the journal
 * from the offset it names. Replaying a record twice is harmless: each sets state.
 */
import { decodeRecords, decodeSendBatch, encodeSendBatch, type Logger } from '@cirrusmq/client/protocol';
import type { MessageStore } from '../store/message-store-types';
import { decodePopJournalRecords, encodePopJournalRecords } from './pop-journal-codec';
import type { PopJournal, PopJournalRecord } from './pop-journal-record';

export const POP_JOURNAL_TOPIC = 'rmq_sys_POP_JOURNAL';
const MAX_RECORDS_PER_MESSAGE = 2_000;
const REPLAY_BATCH = 256;

type JournalStore = Pick<MessageStore, 'putMessages' | 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>;

export class CommitLogPopJournal implements PopJournal {
  private pending: PopJournalRecord[] = [];
  private scheduled: Promise<void> | undefined;
  private last: Promise<void> = Promise.resolve();
  /** Records appended since start (metrics, tests). */
  appended = 0;

  constructor(
    private readonly store: JournalStore,
    private readonly logger: Logger,
  ) {}

  append(record: PopJournalRecord): void {
    this.pending.push(record);
    this.appended++;
    if (!this.scheduled) {
      this.scheduled = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
      // A failed append is reported to the callers of sync() (and logged); none left waiting is no crash.
      this.scheduled.catch(() => undefined);
    }
  }

  /** Resolves once every record appended so far is stored at the store's durability (an ack waits for it). */
  sync(): Promise<void> {
    return this.scheduled ?? this.last;
  }

  /** One message per run of records: appended synchronously, so journal order is call order. */
  private flush(): Promise<void> {
    this.scheduled = undefined;
    const records = this.pending;
    this.pending = [];
    const puts: Promise<unknown>[] = [];
    for (let i = 0; i < records.length; i += MAX_RECORDS_PER_MESSAGE) {
      const body = encodePopJournalRecords(records.slice(i, i + MAX_RECORDS_PER_MESSAGE));
      const batch = encodeSendBatch(POP_JOURNAL_TOPIC, 0, [
        { messageId: '', body, bodyLength: body.length, sysFlag: 0, bornTimestamp: Date.now(), properties: '', propertiesLength: 0 },
      ]);
      puts.push(this.store.putMessages(decodeSendBatch(batch, 1)));
    }
    const done = Promise.all(puts).then(
      () => undefined,
      (err: unknown) => {
        this.logger.error('pop journal append failed', { err: String(err), records: records.length });
        throw err;
      },
    );
    this.last = done.catch(() => undefined);
    return done;
  }

  /** The journal's next queue offset: a snapshot taken now covers everything below it. */
  nextOffset(): number {
    return this.store.getMaxOffsetInQueue(POP_JOURNAL_TOPIC, 0);
  }

  /** Feeds every record from `fromOffset` (or the oldest kept) to `apply`, in order. Returns the records replayed. */
  async replay(fromOffset: number, apply: (r: PopJournalRecord) => void): Promise<number> {
    let offset = Math.max(fromOffset, this.store.getMinOffsetInQueue(POP_JOURNAL_TOPIC, 0));
    const end = this.store.getMaxOffsetInQueue(POP_JOURNAL_TOPIC, 0);
    let n = 0;
    while (offset < end) {
      const got = await this.store.getMessage(POP_JOURNAL_TOPIC, 0, offset, REPLAY_BATCH);
      if (got.count === 0) break;
      for (const m of decodeRecords(got.records)) {
        const records = decodePopJournalRecords(m.body);
        for (const r of records) apply(r);
        n += records.length;
      }
      offset = got.nextOffset;
    }
    return n;
  }
}
