/**
 * The gateway's binary receive answer (media type POP_PARTS_TYPE), asked for with an Accept
 * header: the brokers' POP answers passed through, each behind the name of the broker that
 * leased it, in place of a JSON object per message. The SDK's gateway backend asks for it, so
 * neither the gateway nor the consumer writes, parses or base64-decodes JSON per message, and
 * a message comes out of decodePopResult exactly as it does on the direct path.
 *
 *   repeat until the body ends (an empty body: no message):
 *     2   brokerNameLength  uint16 BE
 *     n   brokerName        UTF-8
 *     4   partLength        uint32 BE
 *     m   part              a POP_RESULT body (consume-types.ts): that broker's leases and records
 *
 * A receive that carried acks (the request's `ack`) is answered with one more part first,
 * whose broker name is empty (no broker has one): its part is the ack results as JSON, one per
 * handle in order, as the ack route answers them. A request without acks never gets it.
 */
import { CirrusError } from '../errors.js';
import { allOk, allOkResultsBytes, allOkResultsCount, okResults } from './ack-answer.js';
import { decodePopResult, type PoppedMessage } from './broker-client.js';
import type { AckResponse } from './consume-types.js';

export const POP_PARTS_TYPE = 'application/vnd.cirrusmq.pop-parts';

/** The bytes before a part: its broker's name and the part's length. */
export function popPartHead(brokerName: string, partLength: number): Buffer {
  const nameLength = Buffer.byteLength(brokerName);
  if (nameLength > 0xffff) throw new CirrusError('INTERNAL', `broker name of ${nameLength} bytes`);
  const head = Buffer.allocUnsafe(2 + nameLength + 4);
  head.writeUInt16BE(nameLength, 0);
  head.write(brokerName, 2, 'utf8');
  head.writeUInt32BE(partLength, 2 + nameLength);
  return head;
}

/** The ack results' part: the empty broker name, then the results as JSON. */
export function ackResultsPart(results: AckResponse['results']): Buffer[] {
  const json = allOk(results) ? allOkResultsBytes(results.length) : Buffer.from(JSON.stringify(results));
  return [popPartHead('', json.length), json];
}

/** Every message of a POP_PARTS body, in order, each with its lease and broker (decodePopResult's messages). */
export function decodePopParts(body: Buffer): PoppedMessage[] {
  return decodePopPartsAnswer(body).messages;
}

/** The messages of a POP_PARTS body and, when the receive carried acks, their results. */
export function decodePopPartsAnswer(body: Buffer): { messages: PoppedMessage[]; ackResults?: AckResponse['results'] } {
  const out: PoppedMessage[] = [];
  let ackResults: AckResponse['results'] | undefined;
  let pos = 0;
  while (pos < body.length) {
    if (pos + 2 > body.length) throw truncated(pos);
    const nameEnd = pos + 2 + body.readUInt16BE(pos);
    if (nameEnd + 4 > body.length) throw truncated(pos);
    const brokerName = body.toString('utf8', pos + 2, nameEnd);
    const partEnd = nameEnd + 4 + body.readUInt32BE(nameEnd);
    if (partEnd > body.length) throw truncated(pos);
    const part = body.subarray(nameEnd + 4, partEnd);
    if (brokerName === '') ackResults = parseAckResults(part);
    else for (const m of decodePopResult(part, brokerName)) out.push(m);
    pos = partEnd;
  }
  return ackResults === undefined ? { messages: out } : { messages: out, ackResults };
}

function parseAckResults(part: Buffer): AckResponse['results'] {
  const ok = allOkResultsCount(part);
  if (ok !== undefined) return okResults(ok);
  let results: unknown;
  try {
    results = JSON.parse(part.toString('utf8'));
  } catch {
    throw new CirrusError('INTERNAL', 'pop-parts answer: ack results are not JSON');
  }
  if (!Array.isArray(results)) throw new CirrusError('INTERNAL', 'pop-parts answer: ack results are not a list');
  return results as AckResponse['results'];
}

/** True when an Accept header value lists POP_PARTS_TYPE (without q=0). */
export function acceptsPopParts(accept: string | undefined): boolean {
  if (accept === undefined || !/vnd\.cirrusmq\.pop-parts/i.test(accept)) return false;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';');
    if (type!.trim().toLowerCase() !== POP_PARTS_TYPE) continue;
    if (!params.some((p) => /^\s*q\s*=\s*0(?:\.0*)?\s*$/i.test(p))) return true;
  }
  return false;
}

const truncated = (pos: number) => new CirrusError('INTERNAL', `pop-parts answer truncated at byte ${pos}`);
