/**
 * The receive answer as POP_PARTS (client api/pop-parts.ts), for a caller whose Accept asks
 * for it (the SDK): the brokers' POP answers passed on as they came, each behind its broker's
 * name. A broker's answer whose records all go to this caller (the rule) is passed on
 * untouched; records split from their answer (a hand-over of some of a late answer's leases,
 * or the cap below) go in a POP_RESULT rebuilt from their leases and record bytes.
 *
 * The cap: in a Lambda result, this binary body is carried base64 (hono/aws-lambda does so
 * for a type that is not text), so the messages answered are the longest prefix whose base64
 * weighs at most the budget (the JSON answer's budget, MESSAGES_BUDGET), the first one always
 * (a record is at most 4 MiB, 5.6 MB as base64, which fits). The caller releases the rest, as
 * for the JSON answer. The process server applies the same cap: one behaviour in both.
 */
import { type AckResponse, ackResultsPart, popPartHead, popResultParts } from '@cirrusmq/client/protocol';
import type { LeasedRecord } from './pop-records';

/**
 * `messages` as a POP_PARTS body in pieces, capped to `budget` base64 bytes; `count` of them
 * are in it (a prefix). The results of the acks the receive carried go first, in their own part.
 */
export function popPartsAnswer(messages: readonly LeasedRecord[], budget: number, ackResults?: AckResponse['results']): { parts: Buffer[]; count: number } {
  const acks = ackResults === undefined ? [] : ackResultsPart(ackResults);
  for (const b of acks) budget -= base64Weight(b.length) + 3;
  let count = messages.length;
  // Mostly one answer of one broker, far under the budget: its bytes bound the answer (a
  // rebuilt part's meta holds a subset of its answer's leases, so it is no longer).
  if (base64Weight(bound(messages)) > budget && base64Weight(estimate(messages, count)) > budget) {
    count = 1;
    while (count < messages.length && base64Weight(estimate(messages, count + 1)) <= budget) count++;
  }
  const parts = partsOf(messages, count);
  return { parts: acks.length === 0 ? parts : [...acks, ...parts], count };
}

/** The buffers of the first `count` messages' answer: per run of one broker answer, a head and a POP_RESULT. */
function partsOf(messages: readonly LeasedRecord[], count: number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < count) {
    const first = messages[i]!;
    let end = i + 1;
    let contiguous = true;
    while (end < count && messages[end]!.buf === first.buf) {
      const prev = messages[end - 1]!;
      if (messages[end]!.pos !== prev.pos + prev.shape.size) contiguous = false;
      end++;
    }
    const last = messages[end - 1]!;
    const whole = contiguous && first.pos === 4 + first.buf.readUInt32BE(0) && last.pos + last.shape.size === first.buf.length;
    if (whole) out.push(popPartHead(first.brokerName, first.buf.length), first.buf);
    else {
      const run = messages.slice(i, end);
      const part = popResultParts(
        { messages: run.map((r) => r.lease) },
        run.map((r) => r.buf.subarray(r.pos, r.pos + r.shape.size)),
      );
      let length = 0;
      for (const b of part) length += b.length;
      out.push(popPartHead(first.brokerName, length), ...part);
    }
    i = end;
  }
  return out;
}

/** No fewer than the bytes of the whole answer: each distinct broker answer's bytes and a head per part. */
function bound(messages: readonly LeasedRecord[]): number {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (i > 0 && m.buf === messages[i - 1]!.buf) continue;
    bytes += 2 + 3 * m.brokerName.length + 4 + m.buf.length;
  }
  return bytes;
}

/** No fewer than the bytes of the first `count` messages' answer: each part's meta counted as rebuilt, a lease at a time. */
function estimate(messages: readonly LeasedRecord[], count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    if (i === 0 || m.buf !== messages[i - 1]!.buf) bytes += 2 + Buffer.byteLength(m.brokerName) + 4 + 4 + '{"messages":[]}'.length;
    bytes += m.shape.size + Buffer.byteLength(JSON.stringify(m.lease)) + 1;
  }
  return bytes;
}

const base64Weight = (bytes: number) => 4 * Math.ceil(bytes / 3);
