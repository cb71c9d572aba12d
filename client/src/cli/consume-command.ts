/**
 * `cirrusmq consume`: receives a group's messages through the gateway, prints each as one
 * line (as `read` does) and acks it after printing, so a message the CLI died before showing
 * is delivered again. Stops after --count messages, or when a receive waited --wait seconds
 * and found nothing.
 */
import { ConsumeLimits } from '../api/consume-types.js';
import type { GatewayClient } from '../api/gateway-client.js';
import { CirrusError } from '../errors.js';
import { formatMessageLine } from './format.js';

export interface ConsumeCommandOptions {
  topic: string;
  group: string;
  /** Stop after this many messages; unset: until a receive finds nothing. */
  count?: number;
  waitSeconds: number;
  filter?: string;
  invisibleSeconds: number;
  json: boolean;
  out: (line: string) => void;
  err: NodeJS.WriteStream;
}

export async function consumeCommand(gw: GatewayClient, o: ConsumeCommandOptions): Promise<{ received: number; ackFailed: number }> {
  const started = Date.now();
  let received = 0;
  let ackFailed = 0;
  const progress = (final = false) => {
    const secs = (Date.now() - started) / 1000;
    const of = o.count === undefined ? '' : `/${o.count}`;
    const line = `received ${received}${of}, ack failed ${ackFailed}, ${Math.round(received / Math.max(secs, 0.001))} msg/s`;
    if (o.err.isTTY && !final) o.err.write(`\r${line}`);
    else if (final) o.err.write(`${o.err.isTTY ? '\r' : ''}${line}\n`);
  };
  const timer = setInterval(progress, 250);
  try {
    while (o.count === undefined || received < o.count) {
      const max = Math.min(ConsumeLimits.MAX_RECEIVE, o.count === undefined ? ConsumeLimits.MAX_RECEIVE : o.count - received);
      const messages = await gw.receive(o.topic, o.group, { max, invisibleSeconds: o.invisibleSeconds, waitSeconds: o.waitSeconds, filter: o.filter });
      if (messages.length === 0) break;
      for (const m of messages) o.out(o.json ? JSON.stringify(m) : `${formatMessageLine(m)}\tattempt=${m.deliveryAttempt}`);
      received += messages.length;
      const { results } = await gw.ack(
        o.topic,
        o.group,
        messages.map((m) => m.receiptHandle),
      );
      for (const r of results) {
        if (r.status === 'FAILED') {
          ackFailed++;
          o.err.write(`${o.err.isTTY ? '\n' : ''}ack failed: ${r.error.code}: ${r.error.message}\n`);
        }
      }
    }
  } finally {
    clearInterval(timer);
    progress(true);
  }
  if (ackFailed > 0) throw new CirrusError('RECEIPT_HANDLE_EXPIRED', `${ackFailed} of ${received} messages were not acked; they will be delivered again`);
  return { received, ackFailed };
}
