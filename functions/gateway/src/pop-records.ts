/**
 * A POP answer (consume-types.ts, POP_RESULT) split into its leases without decoding the
 * records: receive-answer.ts writes each message's JSON straight from its record's bytes, so a
 * message costs no MessageExt, no copy of its body and no properties object. The records are
 * checked as decodeRecords checks them (shape and CRC; the CRC is left to the SDK when the
 * records are passed on as POP_PARTS), and read as decodeRecord reads them.
 */
import { inflateSync } from 'node:zlib';
import {
  CirrusError,
  Field,
  hasValidCrc,
  KEY_SEPARATOR,
  MessageConst,
  type PoppedMeta,
  type PopResultMeta,
  type RecordShape,
  readInt64,
  readRecordShape,
  SysFlag,
} from '@cirrusmq/client/protocol';

/** A message a POP leased: its lease, and its record in the broker's answer. */
export interface LeasedRecord {
  readonly receiptHandle: string;
  /** 1 on the first delivery. */
  readonly deliveryAttempt: number;
  readonly brokerName: string;
  /** The lease as the broker's answer has it (the binary receive answer passes it on). */
  readonly lease: PoppedMeta;
  /** The broker's whole answer; the record is at `pos`. */
  readonly buf: Buffer;
  readonly pos: number;
  readonly shape: RecordShape;
}

/**
 * `checkCrc` false (POP_PARTS): each record's CRC is left to the caller's reader (the SDK's
 * decodePopResult checks it), and the leases (the answer's JSON meta) are read only when one is
 * asked for: an answer passed on whole, the rule, never needs them here.
 */
export function splitPopResult(body: Buffer, brokerName: string, checkCrc = true): LeasedRecord[] {
  if (body.length < 4) throw new CirrusError('INTERNAL', `pop result of ${body.length} bytes has no meta length`);
  const metaLength = body.readUInt32BE(0);
  const out: AnswerRecord[] = [];
  const leases = new AnswerLeases(body, metaLength);
  let pos = 4 + metaLength;
  while (pos < body.length) {
    const shape = readRecordShape(body, pos, body.length);
    if (!shape || (checkCrc && !hasValidCrc(body, pos, shape.size))) throw new CirrusError('INTERNAL', `corrupt record at byte ${pos} of a pop result`);
    out.push(new AnswerRecord(leases, out.length, brokerName, body, pos, shape));
    pos += shape.size;
  }
  leases.records = out.length;
  if (checkCrc) leases.read();
  return out;
}

/** The leases of one POP answer, parsed from its meta once, on first use; a count that does not match its records is an error then. */
class AnswerLeases {
  records = 0;
  private leases: PoppedMeta[] | undefined;

  constructor(
    private readonly body: Buffer,
    private readonly metaLength: number,
  ) {}

  read(): PoppedMeta[] {
    if (this.leases) return this.leases;
    const leases = (JSON.parse(this.body.toString('utf8', 4, 4 + this.metaLength)) as PopResultMeta).messages;
    if (leases.length !== this.records) throw new CirrusError('INTERNAL', `pop result holds ${this.records} records for ${leases.length} leases`);
    this.leases = leases;
    return leases;
  }
}

class AnswerRecord implements LeasedRecord {
  constructor(
    private readonly leases: AnswerLeases,
    private readonly index: number,
    readonly brokerName: string,
    readonly buf: Buffer,
    readonly pos: number,
    readonly shape: RecordShape,
  ) {}

  get lease(): PoppedMeta {
    return this.leases.read()[this.index]!;
  }

  get receiptHandle(): string {
    return this.lease.receiptHandle;
  }

  get deliveryAttempt(): number {
    return this.lease.deliveryAttempt;
  }
}

/** A record's fields as the receive answer writes them (decodeRecord's, read in place). */
export interface RecordFields {
  messageId: string;
  tags: string | undefined;
  keys: string[];
  /** The properties that are not MessageConst's, as decodeProperties would have them; undefined when none. */
  userProperties: Record<string, string> | undefined;
  body: Buffer;
  queueId: number;
  queueOffset: number;
  bornTimestamp: number;
  storeTimestamp: number;
}

const RESERVED = new Set<string>(Object.values(MessageConst));

/** The fields of `r`'s record; the body is a view of the answer unless it was stored compressed. */
export function recordFields(r: LeasedRecord): RecordFields {
  const { buf, pos, shape } = r;
  const bodyStart = pos + Field.BODY;
  let body = buf.subarray(bodyStart, bodyStart + shape.bodyLength);
  if (buf.readInt32BE(pos + Field.SYSFLAG) & SysFlag.COMPRESSED) body = inflateSync(body);
  // properties.ts's layout, name \u0001 value \u0002, walked once: later values of a name win, as there.
  const s = buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength);
  let messageId = '';
  let tags: string | undefined;
  let keys: string | undefined;
  let userProperties: Record<string, string> | undefined;
  let start = 0;
  while (start < s.length) {
    const sep = s.indexOf('\u0001', start);
    if (sep < 0) break;
    let end = s.indexOf('\u0002', sep + 1);
    if (end < 0) end = s.length;
    const name = s.slice(start, sep);
    const value = s.slice(sep + 1, end);
    if (name === MessageConst.UNIQ_KEY) messageId = value;
    else if (name === MessageConst.TAGS) tags = value;
    else if (name === MessageConst.KEYS) keys = value;
    else if (!RESERVED.has(name)) (userProperties ??= {})[name] = value;
    start = end + 1;
  }
  return {
    messageId,
    tags,
    keys: keys ? keys.split(KEY_SEPARATOR) : [],
    userProperties,
    body,
    queueId: buf.readInt32BE(pos + Field.QUEUEID),
    queueOffset: readInt64(buf, pos + Field.QUEUEOFFSET),
    bornTimestamp: readInt64(buf, pos + Field.BORNTIMESTAMP),
    storeTimestamp: readInt64(buf, pos + Field.STORETIMESTAMP),
  };
}
