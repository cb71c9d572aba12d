/**
 * The child of timer-handoff-crash.test.ts: the broker's put path for scheduled messages over
 * a store folder, with the timer loop never started, so every timer record is acknowledged and
 * handed to the timer store's memory but not enqueued. Prints the sent ids and due times, then
 * "ACKED", then waits to be SIGKILLed.
 *
 * argv: storeDir, batches of 32 in the SDK's timer form, batches of 32 in the plain form.
 */
import { decodeSendBatch, encodeSendBatch, encodeTimerBatch, prepareMessage, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { TimerMessageStore } from '../../broker-node/src/timer/timer-message-store';
import { putMessagesWithTimers } from '../../broker-node/src/timer/timer-put';

const [storeDir, timerForm, plainForm] = process.argv.slice(2);
const store = await new DefaultMessageStore(
  { storeDir: storeDir!, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 4096, flushIntervalMs: 60_000 },
  silentLogger,
).open();
const timer = new TimerMessageStore(store, { storeDir: storeDir!, precisionMs: 100, wheelSpanMs: 3_600_000, maxDelayMs: 86_400_000 }, silentLogger);
await timer.recover();
const sent: { id: string; deliverAt: number }[] = [];
const now = Date.now();
for (const [form, batches] of [
  ['timer', Number(timerForm)],
  ['plain', Number(plainForm)],
] as const) {
  for (let b = 0; b < batches; b++) {
    const prepared = Array.from({ length: 32 }, (_, i) =>
      prepareMessage({ topic: 'T', body: `${form}-${b}-${i}`, deliverAt: now + 60_000 + i * 100 }, 4096, now, true),
    );
    const body = form === 'timer' ? encodeTimerBatch('T', 0, prepared, now)! : encodeSendBatch('T', 0, prepared);
    await putMessagesWithTimers(store, timer, decodeSendBatch(body, 1000));
    prepared.forEach((p, i) => sent.push({ id: p.messageId, deliverAt: now + 60_000 + i * 100 }));
  }
}
// Acknowledged, handed over, not enqueued: what a crash right after the ack leaves.
console.log(JSON.stringify({ sent, enqueued: timer.counters.enqueued, handedOffWaiting: timer.handedOffWaiting }));
console.log('ACKED');
setInterval(() => {}, 60_000);
