/**
 * The put path hands timer records to the timer store in memory (timer-put.ts handOff), and a
 * process killed after the ack but before its timer loop ran loses that memory: the records
 * are in the CommitLog, and recovery (checkpoint, then the timer topic replayed) must find
 * every one. A child process puts timer-form and plain-form batches with the loop never
 * started and is SIGKILLed once it has printed the acks; the store reopened here has every
 * timer pending, none visible early, and each delivered once when due.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecords, silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { TimerMessageStore } from '../../broker-node/src/timer/timer-message-store';
import { waitFor } from '../../infra/local/wait-for';

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('timers handed over in memory', () => {
  it('are all recovered from the CommitLog after a SIGKILL between the ack and the timer loop', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-timer-handoff-'));
    const storeDir = dir;
    const proc = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', path.join(__dirname, 'timer-put-child.ts'), storeDir, '4', '2'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = proc;
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor('the child to acknowledge its puts', 60_000, async () => out.includes('ACKED\n'));
    proc.kill('SIGKILL');
    await waitFor('the child to die', 10_000, async () => proc.exitCode !== null || proc.signalCode !== null);
    const report = JSON.parse(out.split('\n')[0]!) as { sent: { id: string; deliverAt: number }[]; enqueued: number; handedOffWaiting: number };
    expect(report.sent.length).toBe(6 * 32);
    // The loop never ran: nothing was enqueued, every record waited in memory.
    expect(report.enqueued).toBe(0);
    expect(report.handedOffWaiting).toBe(6 * 32);

    const store = await new DefaultMessageStore(
      { storeDir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 4096, flushIntervalMs: 60_000 },
      silentLogger,
    ).open();
    const due = Math.max(...report.sent.map((s) => s.deliverAt));
    const clock = { now: Math.min(...report.sent.map((s) => s.deliverAt)) - 1 };
    const timer = new TimerMessageStore(
      store,
      { storeDir, precisionMs: 100, wheelSpanMs: 3_600_000, maxDelayMs: 86_400_000, now: () => clock.now },
      silentLogger,
    );
    try {
      await timer.recover();
      expect(timer.pendingCount()).toBe(6 * 32);
      await timer.pass();
      expect(store.getMaxOffsetInQueue('T', 0)).toBe(0);
      // Half way, then past the last: each delivered once, in the first tick at or after its time, never before.
      const tick = (ms: number) => Math.ceil(ms / 100) * 100;
      for (const t of [clock.now + 1 + 1_550, tick(due)]) {
        clock.now = t;
        await timer.pass();
        const delivered = decodeRecords((await store.getMessage('T', 0, 0, 1000)).records).map((m) => m.messageId);
        const dueBy = report.sent.filter((s) => tick(s.deliverAt) <= t).map((s) => s.id);
        expect(dueBy.length).toBeGreaterThan(0);
        expect(delivered.sort()).toEqual(dueBy.sort());
      }
      expect(timer.pendingCount()).toBe(0);
    } finally {
      await timer.close();
      await store.shutdown();
    }
  }, 90_000);
});
