/**
 * The body a send puts on the wire for a queue: a batch of messages all scheduled for later
 * goes in the timer form (codec/timer-batch.ts), which names its queue in every record, so it
 * is encoded per queue (again only when a retry picks another); any other batch is encoded
 * once and pointed at the queue in its header.
 */
import { encodeSendBatch, type PreparedMessage, setSendBatchQueueId } from '../codec/send-batch.js';
import { encodeTimerBatch } from '../codec/timer-batch.js';

const SCHEDULE_MARK = 'DELIVER_MS\u0001';
const DELAY_MARK = 'DELAY';

export function sendBatchBody(topic: string, prepared: readonly PreparedMessage[]): (queueId: number) => Buffer {
  if (mayBeScheduled(prepared)) {
    let last: { queueId: number; body: Buffer } | undefined;
    const now = Date.now();
    return (queueId) => {
      if (last?.queueId !== queueId) last = { queueId, body: encodeTimerBatch(topic, queueId, prepared, now) ?? encodeSendBatch(topic, queueId, prepared) };
      return last.body;
    };
  }
  const body = encodeSendBatch(topic, 0, prepared);
  return (queueId) => {
    setSendBatchQueueId(body, queueId);
    return body;
  };
}

/** A cheap first look (the first message only): a plain batch pays nothing more. */
function mayBeScheduled(prepared: readonly PreparedMessage[]): boolean {
  const p = prepared[0]?.properties;
  return p !== undefined && (p.includes(SCHEDULE_MARK) || p.includes(DELAY_MARK));
}
