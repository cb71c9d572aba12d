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
  receiptHandle: string;
  /** 1 on the first delivery. */
  deliveryAttempt: number;
  brokerName: string;
  /** The lease as the broker's answer has it (the binary receive answer passes it on). */
  lease: PoppedMeta;
  /** The broker's whole answer; the record is at `pos`. */
  buf: Buffer;
  pos: number;
  shape: RecordShape;
}

/** `checkCrc` false: each record's CRC is left to the caller's reader (POP_PARTS: the SDK's decodePopResult checks it). */
export function splitPopResult(body: Buffer, brokerName: string, checkCrc = true): LeasedRecord[] {
  if (body.length < 4) throw new CirrusError('INTERNAL', `pop result of ${body.length} bytes has no meta length`);
  const metaLength = body.readUInt32BE(0);
  const leases = (JSON.parse(body.toString('utf8', 4, 4 + metaLength)) as PopResultMeta).messages;
  const out: LeasedRecord[] = [];
  let pos = 4 + metaLength;
  while (pos < body.length) {
    const shape = readRecordShape(body, pos, body.length);
    if (!shape || (checkCrc && !hasValidCrc(body, pos, shape.size))) throw new CirrusError('INTERNAL', `corrupt record at byte ${pos} of a pop result`);
    const lease = leases[out.length];
    if (!lease) break;
    out.push({ receiptHandle: lease.receiptHandle, deliveryAttempt: lease.deliveryAttempt, brokerName, lease, buf: body, pos, shape });
    pos += shape.size;
  }
  if (pos < body.length || out.length !== leases.length) {
    throw new CirrusError('INTERNAL', `pop result holds ${pos < body.length ? 'more' : out.length} records for ${leases.length} leases`);
  }
  return out;
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
