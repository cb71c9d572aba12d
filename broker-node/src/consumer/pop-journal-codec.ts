/**
 * The POP journal's message body: a run of records (pop-journal-record.ts) in a compact binary
 * form. Every receive and ack writes one, so the JSON text it replaced (~150 bytes a record, its
 * group and topic spelled out each time) cost the broker CPU and garbage on the hot path.
 *
 *   u8 0xB1, u8 version 1, u32 count, then per record: u8 type, its strings, its numbers.
 *   A string is u16 0xFFFF + u16 byte length + UTF-8 (a new one, numbered in order of first use
 *   in this body) or u16 its number. Numbers are f64 (every field is a safe integer).
 *
 * Bodies journaled before (a JSON array: the first byte is '[') still replay.
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { PopJournalRecord } from './pop-journal-record';

const MAGIC = 0xb1;
const VERSION = 1;
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

type Fields = Record<string, string | number>;

export function encodePopJournalRecords(records: readonly PopJournalRecord[]): Buffer {
  // First pass: the size, and each distinct string's number (its order of first use, as the reader numbers them).
  const ids = new Map<string, number>();
  const lengths: number[] = [];
  let size = 6;
  for (const r of records) {
    const layout = LAYOUTS[CODE.get(r.t)! - 1]![1];
    size += 1 + 8 * layout.numbers.length;
    for (const name of layout.strings) {
      const s = (r as unknown as Fields)[name] as string;
      size += 2;
      if (!ids.has(s)) {
        const n = Buffer.byteLength(s);
        if (n >= NEW_STRING) throw new CirrusError('INTERNAL', 'pop journal string too long');
        ids.set(s, ids.size);
        lengths.push(n);
        size += 2 + n;
      }
    }
  }
  if (ids.size >= NEW_STRING) throw new CirrusError('INTERNAL', 'too many strings in one pop journal body');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = MAGIC;
  buf[1] = VERSION;
  buf.writeUInt32LE(records.length, 2);
  let pos = 6;
  let defined = 0;
  for (const r of records) {
    const code = CODE.get(r.t)!;
    const layout = LAYOUTS[code - 1]![1];
    buf[pos++] = code;
    for (const name of layout.strings) {
      const s = (r as unknown as Fields)[name] as string;
      const id = ids.get(s)!;
      if (id === defined) {
        buf.writeUInt16LE(NEW_STRING, pos);
        buf.writeUInt16LE(lengths[id]!, pos + 2);
        pos += 4 + buf.write(s, pos + 4, 'utf8');
        defined++;
      } else {
        buf.writeUInt16LE(id, pos);
        pos += 2;
      }
    }
    for (const name of layout.numbers) {
      buf.writeDoubleLE((r as unknown as Fields)[name] as number, pos);
      pos += 8;
    }
  }
  if (pos !== size) throw new CirrusError('INTERNAL', 'pop journal body encoded to another size than computed');
  return buf;
}

/** The records of a journal body: the binary form, or the JSON array of bodies written before it. */
export function decodePopJournalRecords(body: Buffer): PopJournalRecord[] {
  if (body[0] === JSON_ARRAY_START) return JSON.parse(body.toString('utf8')) as PopJournalRecord[];
  if (body.length < 6 || body[0] !== MAGIC) throw unreadable('unknown format');
  if (body[1] !== VERSION) throw unreadable(`unsupported version ${body[1]}`);
  const count = body.readUInt32LE(2);
  const strings: string[] = [];
  const out: PopJournalRecord[] = [];
  let pos = 6;
  const need = (n: number) => {
    if (pos + n > body.length) throw unreadable('truncated');
  };
  for (let i = 0; i < count; i++) {
    need(1);
    const entry = LAYOUTS[body[pos++]! - 1];
    if (!entry) throw unreadable(`unknown record type ${body[pos - 1]}`);
    const [t, layout] = entry;
    const r: Fields = { t };
    for (const name of layout.strings) {
      need(2);
      const id = body.readUInt16LE(pos);
      pos += 2;
      if (id === NEW_STRING) {
        need(2);
        const n = body.readUInt16LE(pos);
        need(2 + n);
        strings.push(body.toString('utf8', pos + 2, pos + 2 + n));
        pos += 2 + n;
        r[name] = strings[strings.length - 1]!;
      } else {
        if (id >= strings.length) throw unreadable(`string ${id} used before it is defined`);
        r[name] = strings[id]!;
      }
    }
    need(8 * layout.numbers.length);
    for (const name of layout.numbers) {
      r[name] = body.readDoubleLE(pos);
      pos += 8;
    }
    out.push(r as unknown as PopJournalRecord);
  }
  if (pos !== body.length) throw unreadable('bytes left over after the last record');
  return out;
}

function unreadable(why: string): CirrusError {
  return new CirrusError('INTERNAL', `pop journal body unreadable: ${why}`);
}
