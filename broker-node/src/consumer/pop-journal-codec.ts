/**
 * The POP journal's message body: a run of records (pop-journal-record.ts) in a compact binary
 * form. Every receive and ack writes one, so the JSON text it replaced (~150 bytes a record, its
 * group and topic spelled out each time) cost the broker CPU and garbage on the hot path.
 *
 *   u8 0xB1, u8 version 2, u32 count, then per entry: u8 type, its strings, its numbers.
 *   A string is u16 0xFFFF + u16 byte length + UTF-8 (a new one, numbered in order of first use
 *   in this body) or u16 its number. Numbers are f64 (every field is a safe integer).
 *
 * Version 2 adds runs: a receive's POPs of one queue (consecutive offsets and generations, the
 * rest equal) are one POP_RUN entry, an ack's ACKs of consecutive offsets one ACK_RUN, so a
 * receive of 32 journals ~70 bytes, not ~1.7 KB; they decode to the records they stand for.
 * `count` is the records', not the entries'. Version 1 bodies (no runs) and the JSON arrays
 * journaled before them (first byte '[') still replay.
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { PopJournalRecord } from './pop-journal-record';

const MAGIC = 0xb1;
const VERSION = 2;
const READABLE_VERSIONS = new Set([1, 2]);
const NEW_STRING = 0xffff;
const JSON_ARRAY_START = 0x5b;

type RecordType = PopJournalRecord['t'];
interface Layout {
  strings: readonly string[];
  numbers: readonly string[];
}

/** Field order on the wire, per type; a type's code is its place here + 1 (append only). */
const LAYOUTS: readonly (readonly [RecordType, Layout])[] = [
  ['POP', { strings: ['g', 'topic'], numbers: ['q', 'offset', 'attempt', 'gen', 'deadline', 'cursor'] }],
  ['CURSOR', { strings: ['g', 'topic'], numbers: ['q', 'cursor'] }],
  ['ACK', { strings: ['g', 'topic'], numbers: ['q', 'offset'] }],
  ['CHANGE', { strings: ['g', 'topic'], numbers: ['q', 'offset', 'gen', 'deadline'] }],
  ['RELEASE', { strings: ['g', 'topic'], numbers: ['q', 'offset', 'attempt', 'gen'] }],
  ['DLQ', { strings: ['g', 'topic'], numbers: ['q', 'offset'] }],
  ['COMMIT', { strings: ['g', 'topic'], numbers: ['q', 'cursor'] }],
  ['FORGET', { strings: ['topic'], numbers: [] }],
  ['RESET', { strings: ['g', 'topic'], numbers: ['q', 'cursor'] }],
];
const CODE = new Map(LAYOUTS.map(([t], i) => [t, i + 1]));
/** Run entries (version 2), coded after LAYOUTS' types: the first record's fields and the run's length. */
const POP_RUN = LAYOUTS.length + 1;
const ACK_RUN = LAYOUTS.length + 2;
const POP_RUN_NUMBERS = 7;
const ACK_RUN_NUMBERS = 3;
/** A run is worth an entry of its own from this length (a run entry holds one more number). */
const MIN_RUN = 2;

type Fields = Record<string, string | number>;

export function encodePopJournalRecords(records: readonly PopJournalRecord[]): Buffer {
  // First pass: the runs, the size, and each distinct string's number (its order of first use, as the reader numbers them).
  const runs = new Array<number>(records.length);
  const strings = new StringTable();
  let size = 6;
  for (let i = 0; i < records.length; ) {
    const r = records[i]!;
    const n = runLength(records, i);
    runs[i] = n;
    const numbers = n < MIN_RUN ? NUMBER_COUNT[r.t] : r.t === 'POP' ? POP_RUN_NUMBERS : ACK_RUN_NUMBERS;
    size += 1 + 8 * numbers + (r.t === 'FORGET' ? 2 : 4);
    if (r.t !== 'FORGET') size += strings.add(r.g);
    size += strings.add(r.topic);
    i += n;
  }
  if (strings.count >= NEW_STRING) throw new CirrusError('INTERNAL', 'too many strings in one pop journal body');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = MAGIC;
  buf[1] = VERSION;
  buf.writeUInt32LE(records.length, 2);
  const w = { buf, pos: 6, defined: 0 };
  // Per type, its fields in LAYOUTS' order, read directly (a generic loop over field names was most of the encoder's time).
  for (let i = 0; i < records.length; i += runs[i]!) {
    const r = records[i]!;
    const n = runs[i]!;
    if (n >= MIN_RUN) {
      const run = r as Extract<PopJournalRecord, { t: 'POP' | 'ACK' }>;
      buf[w.pos++] = run.t === 'POP' ? POP_RUN : ACK_RUN;
      writeString(w, strings, run.g);
      writeString(w, strings, run.topic);
      num(w, run.q);
      num(w, run.offset);
      if (run.t === 'POP') {
        num(w, run.attempt);
        num(w, run.gen);
        num(w, run.deadline);
        num(w, run.cursor);
      }
      num(w, n);
      continue;
    }
    buf[w.pos++] = CODE.get(r.t)!;
    if (r.t !== 'FORGET') writeString(w, strings, r.g);
    writeString(w, strings, r.topic);
    switch (r.t) {
      case 'POP':
        num(w, r.q);
        num(w, r.offset);
        num(w, r.attempt);
        num(w, r.gen);
        num(w, r.deadline);
        num(w, r.cursor);
        break;
      case 'CURSOR':
      case 'COMMIT':
      case 'RESET':
        num(w, r.q);
        num(w, r.cursor);
        break;
      case 'ACK':
      case 'DLQ':
        num(w, r.q);
        num(w, r.offset);
        break;
      case 'CHANGE':
        num(w, r.q);
        num(w, r.offset);
        num(w, r.gen);
        num(w, r.deadline);
        break;
      case 'RELEASE':
        num(w, r.q);
        num(w, r.offset);
        num(w, r.attempt);
        num(w, r.gen);
        break;
      case 'FORGET':
        break;
    }
  }
  if (w.pos !== size) throw new CirrusError('INTERNAL', 'pop journal body encoded to another size than computed');
  return buf;
}

/** How many records from `i` one entry can stand for: a run of POPs or ACKs of one queue at consecutive offsets (and POP generations), 1 otherwise. */
function runLength(records: readonly PopJournalRecord[], i: number): number {
  const first = records[i]!;
  if (first.t !== 'POP' && first.t !== 'ACK') return 1;
  let n = 1;
  for (let prev = first; i + n < records.length; n++) {
    const r = records[i + n]!;
    if (r.t !== first.t || r.q !== first.q || r.g !== first.g || r.topic !== first.topic || r.offset !== prev.offset + 1) break;
    if (r.t === 'POP') {
      const p = prev as typeof r;
      if (r.gen !== p.gen + 1 || r.attempt !== p.attempt || r.deadline !== p.deadline || r.cursor !== p.cursor) break;
    }
    prev = r;
  }
  return n;
}

const NUMBER_COUNT = Object.fromEntries(LAYOUTS.map(([t, l]) => [t, l.numbers.length])) as Record<RecordType, number>;

/** A body's strings by number; the last one looked up is remembered (a body's records mostly share one group and topic). */
class StringTable {
  private readonly ids = new Map<string, number>();
  readonly lengths: number[] = [];
  private last = '';
  private lastId = -1;

  get count(): number {
    return this.lengths.length;
  }

  /** Bytes the string's definition adds: 0 once it is known. */
  add(s: string): number {
    if (this.idOf(s) >= 0) return 0;
    const n = Buffer.byteLength(s);
    if (n >= NEW_STRING) throw new CirrusError('INTERNAL', 'pop journal string too long');
    this.ids.set(s, this.lengths.length);
    this.lengths.push(n);
    return 2 + n;
  }

  idOf(s: string): number {
    if (s === this.last) return this.lastId;
    const id = this.ids.get(s);
    if (id === undefined) return -1;
    this.last = s;
    this.lastId = id;
    return id;
  }
}

function writeString(w: { buf: Buffer; pos: number; defined: number }, strings: StringTable, s: string): void {
  const id = strings.idOf(s);
  if (id === w.defined) {
    w.buf.writeUInt16LE(NEW_STRING, w.pos);
    w.buf.writeUInt16LE(strings.lengths[id]!, w.pos + 2);
    w.pos += 4 + w.buf.write(s, w.pos + 4, 'utf8');
    w.defined++;
  } else {
    w.buf.writeUInt16LE(id, w.pos);
    w.pos += 2;
  }
}

function num(w: { buf: Buffer; pos: number }, v: number): void {
  w.buf.writeDoubleLE(v, w.pos);
  w.pos += 8;
}

/** The records of a journal body: the binary form, or the JSON array of bodies written before it. */
export function decodePopJournalRecords(body: Buffer): PopJournalRecord[] {
  if (body[0] === JSON_ARRAY_START) return JSON.parse(body.toString('utf8')) as PopJournalRecord[];
  if (body.length < 6 || body[0] !== MAGIC) throw unreadable('unknown format');
  if (!READABLE_VERSIONS.has(body[1]!)) throw unreadable(`unsupported version ${body[1]}`);
  const runs = body[1]! >= 2;
  const count = body.readUInt32LE(2);
  const strings: string[] = [];
  const out: PopJournalRecord[] = [];
  let pos = 6;
  const need = (n: number) => {
    if (pos + n > body.length) throw unreadable('truncated');
  };
  const readString = (): string => {
    need(2);
    const id = body.readUInt16LE(pos);
    pos += 2;
    if (id === NEW_STRING) {
      need(2);
      const n = body.readUInt16LE(pos);
      need(2 + n);
      strings.push(body.toString('utf8', pos + 2, pos + 2 + n));
      pos += 2 + n;
      return strings[strings.length - 1]!;
    }
    if (id >= strings.length) throw unreadable(`string ${id} used before it is defined`);
    return strings[id]!;
  };
  const readNumbers = (n: number): number[] => {
    need(8 * n);
    const v = new Array<number>(n);
    for (let k = 0; k < n; k++, pos += 8) v[k] = body.readDoubleLE(pos);
    return v;
  };
  while (out.length < count) {
    need(1);
    const code = body[pos++]!;
    if (runs && (code === POP_RUN || code === ACK_RUN)) {
      const g = readString();
      const topic = readString();
      const v = readNumbers(code === POP_RUN ? POP_RUN_NUMBERS : ACK_RUN_NUMBERS);
      const n = v[v.length - 1]!;
      if (!Number.isSafeInteger(n) || n < 1 || n > count - out.length) throw unreadable(`run of ${n} records`);
      const [q, offset] = v as [number, number];
      for (let k = 0; k < n; k++) {
        if (code === ACK_RUN) out.push({ t: 'ACK', g, topic, q, offset: offset + k });
        else out.push({ t: 'POP', g, topic, q, offset: offset + k, attempt: v[2]!, gen: v[3]! + k, deadline: v[4]!, cursor: v[5]! });
      }
      continue;
    }
    const entry = LAYOUTS[code - 1];
    if (!entry) throw unreadable(`unknown record type ${code}`);
    const [t, layout] = entry;
    const r: Fields = { t };
    for (const name of layout.strings) r[name] = readString();
    const v = readNumbers(layout.numbers.length);
    for (let k = 0; k < v.length; k++) r[layout.numbers[k]!] = v[k]!;
    out.push(r as unknown as PopJournalRecord);
  }
  if (pos !== body.length) throw unreadable('bytes left over after the last record');
  return out;
}

function unreadable(why: string): CirrusError {
  return new CirrusError('INTERNAL', `pop journal body unreadable: ${why}`);
}
