/**
 * Op records under rmq_sys_trans_op_half_topic (RocketMQ's op half messages): TRANS_OP = COMMIT
 * or ROLLBACK with __transactionId__ = the message id, which is what recovery replays to tell
 * pending from ended; one op record may end several transactions of one kind (body: their ids,
 * comma separated), so a batch of ends writes one record, not one per end. A GROUP record holds
 * a producer group's check URL.
 */
import { decodeProperties, encodeProperties, Field, MessageConst, type PreparedMessage, readRecordShape } from '@cirrusmq/client/protocol';
import { propertiesString } from '../timer/timer-record';

export const OP_TOPIC = 'rmq_sys_trans_op_half_topic';

const C = MessageConst;

export type OpKind = 'COMMIT' | 'ROLLBACK' | 'GROUP';

/**
 * The op records of ends of one kind: one for them all (the first id as its key, all of them in
 * the body when more than one), and one of its own for an id holding the separator.
 */
export function endOpMessages(kind: 'COMMIT' | 'ROLLBACK', messageIds: readonly string[], now: number): PreparedMessage[] {
  const joinable = messageIds.filter((id) => !id.includes(','));
  const out = messageIds.filter((id) => id.includes(',')).map((id) => opMessage(kind, id, '', now));
  if (joinable.length > 0) out.push(opMessage(kind, joinable[0]!, joinable.length > 1 ? joinable.join(',') : '', now));
  return out;
}

/** An op record: the end of transactions (endOpMessage), or a producer group's check URL (body: JSON). */
export function opMessage(kind: OpKind, key: string, body: string, now: number): PreparedMessage {
  const properties = encodeProperties({ [C.TRANSACTION_OP]: kind, [C.TRANSACTION_ID]: key });
  return {
    messageId: '',
    body: Buffer.from(body, 'utf8'),
    sysFlag: 0,
    bornTimestamp: now,
    properties,
    propertiesLength: Buffer.byteLength(properties, 'utf8'),
  };
}

export interface OpRecord {
  kind: OpKind;
  key: string;
  /** The transactions a COMMIT or ROLLBACK record ends (its key alone, or the ids in its body). */
  ids: string[];
  body: Buffer;
  offsetPy: number;
  storeTimestamp: number;
}

export function readOpRecord(buf: Buffer, pos = 0): OpRecord | undefined {
  const shape = readRecordShape(buf, pos, buf.length);
  if (!shape) return undefined;
  const props = decodeProperties(propertiesString(buf, shape));
  const kind = props[C.TRANSACTION_OP];
  const key = props[C.TRANSACTION_ID];
  if ((kind !== 'COMMIT' && kind !== 'ROLLBACK' && kind !== 'GROUP') || key === undefined) return undefined;
  const body = buf.subarray(pos + Field.BODY, pos + Field.BODY + shape.bodyLength);
  return {
    kind,
    key,
    ids: kind === 'GROUP' ? [] : body.length > 0 ? body.toString('latin1').split(',') : [key],
    body,
    offsetPy: Number(buf.readBigInt64BE(pos + Field.PHYSICALOFFSET)),
    storeTimestamp: Number(buf.readBigInt64BE(pos + Field.STORETIMESTAMP)),
  };
}
