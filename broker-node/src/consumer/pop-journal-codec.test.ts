/**
 * The POP journal's binary body: every record type round-trips (strings shared within a body,
 * non-ASCII names, large offsets and deadlines), a damaged body is refused, and a journal
 * holding bodies of the JSON format from before replays them with the new ones, in order, over a
 * real store reopened from disk.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { decodePopJournalRecords, encodePopJournalRecords } from './pop-journal-codec';
import { CommitLogPopJournal, POP_JOURNAL_TOPIC } from './pop-journal';
import type { PopJournalRecord } from './pop-journal-record';

const fx = useStoreFixture({ commitLogSegmentBytes: 64 * 1024, consumeQueueUnitsPerFile: 64, flushIntervalMs: 60_000 });

const every: PopJournalRecord[] = [
  { t: 'POP', g: 'billing', topic: 'Orders', q: 3, offset: 2 ** 40 + 7, attempt: 1, gen: 123_456_789, deadline: 1_764_000_000_000, cursor: 2 ** 40 + 8 },
  { t: 'CURSOR', g: 'billing', topic: 'Orders', q: 0, cursor: 0 },
  { t: 'ACK', g: 'billing', topic: 'Orders', q: 3, offset: 2 ** 40 + 7 },
  { t: 'CHANGE', g: 'grüppe-€', topic: 'Orders', q: 1, offset: 5, gen: 9, deadline: 1_764_000_060_000 },
  { t: 'RELEASE', g: 'grüppe-€', topic: 'Zahlungen', q: 2, offset: 6, attempt: 0, gen: 10 },
  { t: 'DLQ', g: 'billing', topic: 'Zahlungen', q: 2, offset: Number.MAX_SAFE_INTEGER },
  { t: 'COMMIT', g: 'billing', topic: 'Orders', q: 7, cursor: 99 },
  { t: 'FORGET', topic: 'Gone' },
  { t: 'RESET', g: 'billing', topic: 'Gone', q: 0, cursor: 0 },
];

describe('POP journal body', () => {
  it('round-trips every record type, and is smaller than the JSON it replaced', () => {
    const body = encodePopJournalRecords(every);
    expect(decodePopJournalRecords(body)).toEqual(every);
    const pops = Array.from({ length: 32 }, (_, i) => ({ ...every[0]!, offset: 1000 + i }) as PopJournalRecord);
    const binary = encodePopJournalRecords(pops);
    expect(decodePopJournalRecords(binary)).toEqual(pops);
    expect(binary.length).toBeLessThan(Buffer.byteLength(JSON.stringify(pops)) / 2);
    expect(decodePopJournalRecords(encodePopJournalRecords([]))).toEqual([]);
  });

  it("writes a receive's POPs and an ack's ACKs of one queue as runs, and reads them back as the records", () => {
    const pop = every[0] as Extract<PopJournalRecord, { t: 'POP' }>;
    const receive = Array.from({ length: 32 }, (_, i) => ({ ...pop, offset: pop.offset + i, gen: pop.gen + i }));
    const ack = receive.map((r) => ({ t: 'ACK', g: r.g, topic: r.topic, q: r.q, offset: r.offset }) as PopJournalRecord);
    const body = encodePopJournalRecords([...receive, ...ack]);
    expect(decodePopJournalRecords(body)).toEqual([...receive, ...ack]);
    expect(body.length).toBeLessThan(150);
    // Runs break at a gap, a generation out of step, another queue, group, topic, deadline, attempt or cursor.
    const broken: PopJournalRecord[] = [
      ...receive.slice(0, 3),
      { ...pop, offset: pop.offset + 4, gen: pop.gen + 3 },
      { ...pop, offset: pop.offset + 5, gen: pop.gen + 5 },
      { ...pop, offset: pop.offset + 6, gen: pop.gen + 6, q: 4 },
      { ...pop, offset: pop.offset + 7, gen: pop.gen + 7, g: 'other' },
      { ...pop, offset: pop.offset + 8, gen: pop.gen + 8, topic: 'Other' },
      { ...pop, offset: pop.offset + 9, gen: pop.gen + 9, deadline: pop.deadline + 1 },
      { ...pop, offset: pop.offset + 10, gen: pop.gen + 10, attempt: 2 },
      { ...pop, offset: pop.offset + 11, gen: pop.gen + 11, cursor: pop.cursor + 1 },
      ...ack.slice(0, 2),
      { t: 'ACK', g: pop.g, topic: pop.topic, q: pop.q, offset: pop.offset + 5 },
      every[1]!,
      ...ack.slice(0, 2),
    ];
    expect(decodePopJournalRecords(encodePopJournalRecords(broken))).toEqual(broken);
  });

  it("reads version 1 bodies (no runs), and refuses a run longer than the body's count", () => {
    const v1 = encodePopJournalRecords(every);
    v1[1] = 1;
    expect(decodePopJournalRecords(v1)).toEqual(every);
    const pop = every[0] as Extract<PopJournalRecord, { t: 'POP' }>;
    const run = encodePopJournalRecords([pop, { ...pop, offset: pop.offset + 1, gen: pop.gen + 1 }]);
    const v1WithRun = Buffer.from(run);
    v1WithRun[1] = 1;
    expect(() => decodePopJournalRecords(v1WithRun)).toThrow(/unknown record type/);
    const short = Buffer.from(run);
    short.writeUInt32LE(1, 2);
    expect(() => decodePopJournalRecords(short)).toThrow(/run of 2 records/);
  });

  it('reads the JSON bodies written before, and refuses a damaged body', () => {
    expect(decodePopJournalRecords(Buffer.from(JSON.stringify(every)))).toEqual(every);
    const body = encodePopJournalRecords(every);
    expect(() => decodePopJournalRecords(body.subarray(0, body.length - 1))).toThrow(/truncated/);
    expect(() => decodePopJournalRecords(Buffer.concat([body, Buffer.from([0])]))).toThrow(/left over/);
    const badType = Buffer.from(body);
    badType[6] = 200;
    expect(() => decodePopJournalRecords(badType)).toThrow(/unknown record type/);
    expect(() => decodePopJournalRecords(Buffer.from('garbage'))).toThrow(/unknown format/);
  });

  it('a journal with old JSON bodies and new binary ones replays all of them in order after a reopen', async () => {
    let store = fx.open();
    // A body as the journal wrote it before this format: a JSON array in one message.
    const old = every.slice(0, 4);
    await store.putMessages(makeBatch(POP_JOURNAL_TOPIC, 0, [JSON.stringify(old)]));
    const journal = new CommitLogPopJournal(store, silentLogger);
    for (const r of every.slice(4)) journal.append(r);
    await journal.sync();
    store = await fx.reopen();
    const replayed: PopJournalRecord[] = [];
    const n = await new CommitLogPopJournal(store, silentLogger).replay(0, (r) => replayed.push(r));
    expect(n).toBe(every.length);
    expect(replayed).toEqual(every);
  });
});
