/**
 * What the dispatcher hands each index per record (RocketMQ's DispatchRequest), and the one
 * reused object that fills it from a stamped record's bytes.
 *
 * The dispatcher runs once per message on the append path, so it reads the record the cheap
 * way: one pass over the properties BYTES (name \u0001 value \u0002 ..., codec/properties.ts)
 * that notes where TAGS, KEYS and UNIQ_KEY lie, no string built. The tag hash code and the
 * key index's hashes are computed from those bytes (Java's String.hashCode over ASCII is the
 * same over the bytes); a value with a non-ASCII byte is decoded first, so the hashes are
 * always those of the string. `keys` and `uniqKey` are decoded only when an index asks.
 * UTF-8 never puts 0x01 or 0x02 inside a multi-byte character, and validation keeps both
 * out of names and values, so a byte scan finds exactly the separators.
 */
import { Field, getInt64, MessageConst } from '@cirrusmq/client/protocol';

export interface DispatchRequest {
  topic: string;
  queueId: number;
  commitLogOffset: number;
  size: number;
  tagsCode: number;
  queueOffset: number;
  storeTimestamp: number;
  /** The KEYS property as stored (space-separated), for the key index. */
  keys: string | undefined;
  uniqKey: string | undefined;
}

const NAME_VALUE = 0x01;
const PROPERTY = 0x02;
const SPACE = 0x20;
const TAGS = Buffer.from(MessageConst.TAGS, 'latin1');
const KEYS = Buffer.from(MessageConst.KEYS, 'latin1');
const UNIQ_KEY = Buffer.from(MessageConst.UNIQ_KEY, 'latin1');
const EMPTY = Buffer.alloc(0);

/** Java's hashCode of `prefix + s`, continued from `prefixHash`, for the UTF-8 bytes [start, end) of `buf`. */
export function continueJavaHashBytes(prefixHash: number, buf: Buffer, start: number, end: number): number {
  let h = prefixHash;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return continueJavaHashString(prefixHash, buf.toString('utf8', start, end));
    h = (Math.imul(31, h) + b) | 0;
  }
  return h;
}

function continueJavaHashString(prefixHash: number, s: string): number {
  let h = prefixHash;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

function nameIs(buf: Buffer, start: number, end: number, name: Buffer): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}

/**
 * A DispatchRequest read from a record in a buffer. One instance is reused for every record,
 * so an index must copy what it keeps: the request (and its lazy `keys`/`uniqKey`) is valid
 * only during its dispatch() call.
 */
export class RecordDispatchRequest implements DispatchRequest {
  topic = '';
  queueId = 0;
  commitLogOffset = 0;
  size = 0;
  tagsCode = 0;
  queueOffset = 0;
  storeTimestamp = 0;
  private buf: Buffer = EMPTY;
  private keysStart = -1;
  private keysEnd = -1;
  private uniqStart = -1;
  private uniqEnd = -1;

  /** Reads TAGS, KEYS and UNIQ_KEY from the properties at [propsStart, propsEnd) of `buf`; the caller sets the other fields. */
  readProperties(buf: Buffer, propsStart: number, propsEnd: number): void {
    this.buf = buf;
    this.keysStart = this.keysEnd = this.uniqStart = this.uniqEnd = -1;
    let tagsCode = 0;
    let tagsSeen = false;
    let p = propsStart;
    while (p < propsEnd) {
      const nameStart = p;
      while (p < propsEnd && buf[p] !== NAME_VALUE) p++;
      if (p >= propsEnd) break;
      const nameEnd = p;
      const valueStart = ++p;
      while (p < propsEnd && buf[p] !== PROPERTY) p++;
      const valueEnd = p++;
      // The first occurrence of a name counts (as the string lookup did).
      if (!tagsSeen && nameIs(buf, nameStart, nameEnd, TAGS)) {
        tagsSeen = true;
        tagsCode = continueJavaHashBytes(0, buf, valueStart, valueEnd);
      } else if (this.uniqStart < 0 && nameIs(buf, nameStart, nameEnd, UNIQ_KEY)) {
        this.uniqStart = valueStart;
        this.uniqEnd = valueEnd;
      } else if (this.keysStart < 0 && nameIs(buf, nameStart, nameEnd, KEYS)) {
        this.keysStart = valueStart;
        this.keysEnd = valueEnd;
      }
    }
    this.tagsCode = tagsCode;
  }

  /** Fills every field from a stamped record at `pos` (the reput, reading the log). */
  readRecord(buf: Buffer, view: DataView, pos: number, size: number, topic: string, propsStart: number, propsEnd: number): void {
    this.topic = topic;
    this.queueId = view.getInt32(pos + Field.QUEUEID);
    this.queueOffset = getInt64(view, pos + Field.QUEUEOFFSET);
    this.commitLogOffset = getInt64(view, pos + Field.PHYSICALOFFSET);
    this.storeTimestamp = getInt64(view, pos + Field.STORETIMESTAMP);
    this.size = size;
    this.readProperties(buf, propsStart, propsEnd);
  }

  get keys(): string | undefined {
    return this.keysStart < 0 ? undefined : this.buf.toString('utf8', this.keysStart, this.keysEnd);
  }

  get uniqKey(): string | undefined {
    return this.uniqStart < 0 ? undefined : this.buf.toString('utf8', this.uniqStart, this.uniqEnd);
  }

  hasKeys(): boolean {
    return this.keysEnd > this.keysStart;
  }

  /** Java hash of `prefix + key` (prefix given by its hash) for each non-empty space-separated KEYS entry, pushed to `out`. */
  keyHashes(prefixHash: number, out: number[]): void {
    const buf = this.buf;
    let start = this.keysStart;
    const end = this.keysEnd;
    for (let p = start; p <= end; p++) {
      if (p === end || buf[p] === SPACE) {
        if (p > start) out.push(continueJavaHashBytes(prefixHash, buf, start, p));
        start = p + 1;
      }
    }
  }

  /** Java hash of `prefix + uniqKey`, or undefined without one. */
  uniqKeyHash(prefixHash: number): number | undefined {
    if (this.uniqEnd <= this.uniqStart) return undefined;
    return continueJavaHashBytes(prefixHash, this.buf, this.uniqStart, this.uniqEnd);
  }
}
