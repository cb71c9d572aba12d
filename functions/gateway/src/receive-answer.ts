/**
 * The receive answer, {"messages":[…]}, written in one pass into one buffer straight from the
 * records of the brokers' POP answers (pop-records.ts): the same text as JSON.stringify of each
 * decoded message (messageToJson's fields and the lease's), without a decoded message, a JSON
 * object per message, the body as a string, or a weighing loop over every character. This is
 * the gateway's hot path: decoding, encoding and weighing cost it more CPU per message than
 * both brokers' POP and ack together.
 *
 * A text body with nothing to escape (checked natively for '"' and '\', four bytes at a time
 * for control characters) is copied as its bytes, which is exactly what JSON.stringify would
 * write for it. Weighing for the Lambda result (read-answer.ts) is skipped when the answer
 * could not outweigh the budget even if every byte weighed two (the most one can); only an
 * answer past that bound (MBs) is built message by message with read-answer.ts's capMessages.
 */
import { isUtf8 } from 'node:buffer';
import type { AckResponse } from '@cirrusmq/client/protocol';
import { type LeasedRecord, type RecordFields, recordFields } from './pop-records';
import { capMessages } from './read-answer';

const OPEN = '{"messages":[';
const CLOSE = ']}';
const ACK_RESULTS = ',"ackResults":';

/**
 * The answer for `messages`: its bytes and how many of the messages it holds (a prefix; the
 * caller releases the rest). The messages held weigh at most `budget` in a Lambda result.
 */
export function receiveAnswer(
  messages: readonly LeasedRecord[],
  budget: number,
  ackResults?: AckResponse['results'],
): { body: Buffer<ArrayBuffer>; count: number } {
  // The results of the acks the receive carried (consume-calls.ts) go after the messages; they weigh on the budget first.
  const close = ackResults === undefined ? CLOSE : `]${ACK_RESULTS}${JSON.stringify(ackResults)}}`;
  budget -= 2 * (close.length - CLOSE.length);
  const fields = messages.map(recordFields);
  const out = new AnswerWriter(fields);
  out.text(OPEN);
  for (let i = 0; i < messages.length; i++) writeMessage(out, messages[i]!, fields[i]!, i > 0, false);
  const messageBytes = out.length - OPEN.length;
  out.text(close);
  if (2 * messageBytes <= budget) return { body: out.bytes(), count: messages.length };
  const encode = (i: number, base64: boolean) => {
    const one = new AnswerWriter([fields[i]!]);
    writeMessage(one, messages[i]!, fields[i]!, false, base64);
    return one.bytes().toString('utf8');
  };
  const parts = capMessages(
    messages.map((_, i) => i),
    encode,
    budget,
  );
  return { body: Buffer.from(`${OPEN}${parts.join(',')}${close}`), count: parts.length };
}

/**
 * One message's JSON, preceded by a comma when `comma`, into `out`: JSON.stringify's text of
 * {messageId, receiptHandle, deliveryAttempt, body, bodyEncoding, tags, keys, properties,
 * broker, queueId, queueOffset, bornTimestamp, storeTimestamp}. The body is text when it is
 * UTF-8 (copied as its bytes when nothing in it needs escaping), else (or with `base64`) base64.
 */
function writeMessage(out: AnswerWriter, lease: LeasedRecord, f: RecordFields, comma: boolean, base64: boolean): void {
  const head = `${comma ? ',' : ''}{"messageId":${JSON.stringify(f.messageId)},"receiptHandle":${JSON.stringify(lease.receiptHandle)},"deliveryAttempt":${lease.deliveryAttempt},"body":`;
  const body = f.body;
  const utf8 = !base64 && isUtf8(body);
  if (utf8 && needsNoEscape(body)) {
    out.text(`${head}"`);
    out.raw(body);
    out.text(`"${tail(lease, f, 'utf8')}`);
  } else if (utf8) out.text(head + JSON.stringify(body.toString('utf8')) + tail(lease, f, 'utf8'));
  else out.text(`${head}"${body.toString('base64')}"${tail(lease, f, 'base64')}`);
}

const tail = (lease: LeasedRecord, f: RecordFields, encoding: 'utf8' | 'base64') =>
  `,"bodyEncoding":"${encoding}"${f.tags === undefined ? '' : `,"tags":${JSON.stringify(f.tags)}`},"keys":${f.keys.length === 0 ? '[]' : JSON.stringify(f.keys)},"properties":${f.userProperties ? JSON.stringify(f.userProperties) : '{}'},"broker":${JSON.stringify(lease.brokerName)},"queueId":${f.queueId},"queueOffset":${f.queueOffset},"bornTimestamp":${f.bornTimestamp},"storeTimestamp":${f.storeTimestamp}}`;

/**
 * True when JSON.stringify would write this valid UTF-8 text as it is: no '"', no '\' and no
 * control character (< 0x20). Control characters are looked for four bytes at a time: a word
 * x holds a byte below 0x20 exactly when (x - 0x20202020) & ~x & 0x80808080 is not zero.
 */
export function needsNoEscape(b: Buffer): boolean {
  if (b.indexOf(0x22) >= 0 || b.indexOf(0x5c) >= 0) return false;
  const start = b.byteOffset;
  const n = b.length;
  let i = 0;
  const head = Math.min(n, ((start + 3) & ~3) - start);
  for (; i < head; i++) if (b[i]! < 0x20) return false;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const u = new Uint32Array(b.buffer, start + i, words);
    let w = 0;
    for (; w + 4 <= words; w += 4) {
      const a = u[w]!;
      const c = u[w + 1]!;
      const d = u[w + 2]!;
      const e = u[w + 3]!;
      if ((((a - 0x20202020) & ~a) | ((c - 0x20202020) & ~c) | ((d - 0x20202020) & ~d) | ((e - 0x20202020) & ~e)) & 0x80808080) return false;
    }
    for (; w < words; w++) {
      const x = u[w]!;
      if ((x - 0x20202020) & ~x & 0x80808080) return false;
    }
    i += words * 4;
  }
  for (; i < n; i++) if (b[i]! < 0x20) return false;
  return true;
}

/**
 * A growing byte buffer, sized at first for the bodies plus room for each message's fields.
 * Text waits in a string until bytes or the length are asked for: one message's tail and the
 * next one's head then cost one write into the buffer, not two.
 */
class AnswerWriter {
  private buf: Buffer<ArrayBuffer>;
  private pos = 0;
  private pending = '';

  constructor(fields: readonly RecordFields[]) {
    let size = OPEN.length + CLOSE.length;
    for (const f of fields) size += f.body.length + 1024;
    this.buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    this.flush();
    return this.pos;
  }

  text(s: string): void {
    this.pending += s;
    // Bounded: the room made for it is 3 bytes a unit, and text bodies (escaped, base64) are long.
    if (this.pending.length > 8192) this.flush();
  }

  raw(b: Uint8Array): void {
    this.flush();
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  bytes(): Buffer<ArrayBuffer> {
    this.flush();
    return this.buf.subarray(0, this.pos);
  }

  private flush(): void {
    const s = this.pending;
    if (s.length === 0) return;
    this.pending = '';
    // A UTF-16 unit takes at most 3 UTF-8 bytes; write() would silently cut what does not fit.
    this.ensure(3 * s.length);
    this.pos += this.buf.write(s, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
