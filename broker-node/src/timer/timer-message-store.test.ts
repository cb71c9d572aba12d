import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CirrusError,
  decodeRecords,
  decodeSendBatch,
  encodeSendBatch,
  encodeTimerBatch,
  type Message,
  MessageConst,
  prepareMessage,
  silentLogger,
} from '@cirrusmq/client/protocol';
import type { DefaultMessageStore } from '../store/message-store';
import { makeBatch } from '../testing/fixtures';
import { useStoreFixture } from '../testing/store-fixture';
import { TimerMessageStore } from './timer-message-store';
import { holdRetentionForTimers, putMessagesWithTimers } from './timer-put';
import { TIMER_TOPIC } from './timer-record';

const fx = useStoreFixture({
  commitLogSegmentBytes: 4096,
  consumeQueueUnitsPerFile: 64,
  flushIntervalMs: 10,
  fileReservedTimeMs: 1,
  cleanIntervalMs: 3_600_000, // the tests run retention themselves
  preallocateSegments: false,
});

const T0 = 1_800_000_000_000;

function setup(
  opts: {
    wheelSpanMs?: number;
    unitsPerFile?: number;
    checkpointIntervalMs?: number;
    precisionMs?: number;
    store?: DefaultMessageStore;
    clock?: { now: number };
  } = {},
) {
  const store = opts.store ?? fx.open();
  const clock = opts.clock ?? { now: T0 };
  const timer = new TimerMessageStore(
    store,
    {
      storeDir: fx.dir,
      precisionMs: opts.precisionMs ?? 100,
      wheelSpanMs: opts.wheelSpanMs ?? 3_600_000,
      maxDelayMs: 40 * 86_400_000,
      unitsPerFile: opts.unitsPerFile ?? 64,
      checkpointIntervalMs: opts.checkpointIntervalMs,
      holdBucketBytes: 1024,
      now: () => clock.now,
    },
    silentLogger,
  );
  return { store, clock, timer };
}

/** How `send` encodes a batch all scheduled for later: as the gateway and gRPC proxy do (plain) or as the SDK does (timer: codec/timer-batch.ts). */
let sendForm: 'plain' | 'timer' = 'plain';

async function send(store: DefaultMessageStore, timer: TimerMessageStore, now: number, messages: Omit<Message, 'topic'>[], queueId = 0): Promise<string[]> {
  const prepared = messages.map((m) => prepareMessage({ topic: 'T', ...m }, 4096, now));
  const body = (sendForm === 'timer' ? encodeTimerBatch('T', queueId, prepared, now) : undefined) ?? encodeSendBatch('T', queueId, prepared);
  await putMessagesWithTimers(store, timer, decodeSendBatch(body, 1000), undefined, now);
  return prepared.map((p) => p.messageId);
}

async function visible(store: DefaultMessageStore, queueId = 0) {
  const got = await store.getMessage('T', queueId, 0, 1000);
  return decodeRecords(got.records);
}

/** Moves the clock to `ms` after T0 and runs the timer's round. */
async function at(ctx: { clock: { now: number }; timer: TimerMessageStore }, ms: number): Promise<void> {
  ctx.clock.now = T0 + ms;
  await ctx.timer.pass();
}

describe.each(['plain', 'timer'] as const)('TimerMessageStore, scheduled sends in the %s form', (form) => {
  beforeEach(() => {
    sendForm = form;
  });

  it('delivers each message at its time, never before, with its id, body and properties, and without the timer properties', async () => {
    const ctx = setup();
    await ctx.timer.recover();
    const ids = await send(ctx.store, ctx.timer, T0, [
      { body: 'two', delaySeconds: 2, tags: 'TagA', keys: ['k2'], properties: { a: 'b' } },
      { body: 'level1', delayTimeLevel: 1 },
      { body: 'at1500', deliverAt: T0 + 1_500 },
      { body: 'now', deliverAt: T0 - 5 },
    ]);
    // The one due already is stored at once; the others are not in the queue.
    expect((await visible(ctx.store)).map((m) => m.body.toString())).toEqual(['now']);
    expect(ctx.store.getMaxOffsetInQueue(TIMER_TOPIC, 0)).toBe(3);
    await at(ctx, 999);
    expect((await visible(ctx.store)).map((m) => m.body.toString())).toEqual(['now']);
    await at(ctx, 1_000);
    expect((await visible(ctx.store)).map((m) => m.body.toString())).toEqual(['now', 'level1']);
    await at(ctx, 1_499);
    expect((await visible(ctx.store)).length).toBe(2);
    await at(ctx, 1_500);
    await at(ctx, 1_999);
    expect((await visible(ctx.store)).map((m) => m.body.toString())).toEqual(['now', 'level1', 'at1500']);
    await at(ctx, 2_000);
    const all = await visible(ctx.store);
    expect(all.map((m) => m.body.toString())).toEqual(['now', 'level1', 'at1500', 'two']);
    const two = all[3]!;
    expect(two.messageId).toBe(ids[0]);
    expect(two.tags).toBe('TagA');
    expect(two.keys).toEqual(['k2']);
    expect(two.properties.a).toBe('b');
    expect(two.properties[MessageConst.TIMER_OUT_MS]).toBe(String(T0 + 2_000));
    for (const p of [MessageConst.REAL_TOPIC, MessageConst.REAL_QID, MessageConst.TIMER_DELAY_SEC]) expect(two.properties[p]).toBeUndefined();
    expect(ctx.timer.pendingCount()).toBe(0);
    await ctx.timer.close();
  });

  it('refuses a bad schedule or one past the horizon, storing nothing of the batch', async () => {
    const ctx = setup();
    await ctx.timer.recover();
    const bad = (props: string) => {
      const ok = prepareMessage({ topic: 'T', body: 'ok' }, 4096, T0);
      const raw = { ...ok, properties: props, propertiesLength: Buffer.byteLength(props) };
      return putMessagesWithTimers(ctx.store, ctx.timer, decodeSendBatch(encodeSendBatch('T', 0, [ok, raw]), 10), undefined, T0);
    };
    // Raw properties as a client other than the SDK could send them.
    for (const props of [
      'DELAY\u00010\u0002',
      'DELAY\u000119\u0002',
      'TIMER_DELAY_SEC\u0001-1\u0002',
      'TIMER_DELIVER_MS\u0001soon\u0002',
      `TIMER_DELIVER_MS\u0001${T0 + 41 * 86_400_000}\u0002`,
    ]) {
      await expect(bad(props)).rejects.toMatchObject({ code: 'INVALID_DELAY' });
    }
    expect(ctx.store.getMaxOffsetInQueue('T', 0)).toBe(0);
    expect(ctx.store.getMaxOffsetInQueue(TIMER_TOPIC, 0)).toBe(0);
    await ctx.timer.close();
  });

  it('rolls a timer beyond the wheel forward, re-appending it, and still fires it on time', async () => {
    const ctx = setup({ wheelSpanMs: 60_000 });
    await ctx.timer.recover();
    await send(ctx.store, ctx.timer, T0, [{ body: 'far', deliverAt: T0 + 100_000 }]);
    for (let t = 10_000; t < 100_000; t += 10_000) await at(ctx, t);
    await at(ctx, 99_999);
    expect(await visible(ctx.store)).toEqual([]);
    // Parked at +30 s, +60 s and +90 s: three new copies under the timer topic.
    expect(ctx.timer.counters.rolled).toBe(3);
    expect(ctx.store.getMaxOffsetInQueue(TIMER_TOPIC, 0)).toBe(4);
    await at(ctx, 100_000);
    expect((await visible(ctx.store)).map((m) => [m.body.toString(), m.properties[MessageConst.TIMER_ROLL_TIMES]])).toEqual([['far', undefined]]);
    await ctx.timer.close();
  });

  it('after a crash rebuilds the wheel from the timer log and the topic: every timer fires once, those due while down at once', async () => {
    const ctx = setup({ unitsPerFile: 8, checkpointIntervalMs: 0 });
    await ctx.timer.recover();
    const delays = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
    await send(
      ctx.store,
      ctx.timer,
      T0,
      delays.map((d) => ({ body: `d${d}`, delaySeconds: d })),
    );
    await send(ctx.store, ctx.timer, T0 + 100, [{ body: 'late-sent', delaySeconds: 4 }]);
    await at(ctx, 3_000); // d1 d2 d3 fire; checkpointed after
    const cpFile = path.join(fx.dir, 'timer', 'timercheck');
    const staleCp = fs.readFileSync(cpFile);
    await send(ctx.store, ctx.timer, T0 + 3_000, [{ body: 'after-cp', delaySeconds: 1 }]);
    await at(ctx, 5_000); // d5, late-sent and after-cp fire after that checkpoint
    expect((await visible(ctx.store)).length).toBe(6);
    // "SIGKILL": the last checkpoint is the stale one, the old instance is dropped without close; back at +30 s.
    fs.writeFileSync(cpFile, staleCp);
    const again = setup({ store: ctx.store, clock: { now: T0 + 30_000 }, unitsPerFile: 8, checkpointIntervalMs: 0 });
    await again.timer.recover();
    await again.timer.pass();
    const bodies = (await visible(ctx.store)).map((m) => m.body.toString());
    // d8 d13 d21 fell due while down: delivered at once; what fired before the crash is not delivered again.
    expect(bodies.sort()).toEqual(['after-cp', 'd1', 'd13', 'd2', 'd21', 'd3', 'd5', 'd8', 'late-sent']);
    expect(again.timer.counters.skippedDuplicates).toBe(3);
    await at(again, 88_999);
    expect((await visible(ctx.store)).length).toBe(11);
    await at(again, 89_000);
    const final = (await visible(ctx.store)).map((m) => m.body.toString());
    expect(final.length).toBe(12);
    expect(new Set(final).size).toBe(12);
    expect(again.timer.pendingCount()).toBe(0);
    await again.timer.close();
  });

  it('fires every timer, never early, after restarts with another tick (50 ms, then 100, then 30)', async () => {
    const ctx = setup({ precisionMs: 50 });
    await ctx.timer.recover();
    const dues = [1_050, 1_150, 2_030, 2_975, 3_510, 4_220, 5_005];
    await send(
      ctx.store,
      ctx.timer,
      T0,
      dues.map((d) => ({ body: `at${d}`, deliverAt: T0 + d })),
    );
    await at(ctx, 900);
    await ctx.timer.close();
    // Restarted under a 100 ms tick: the 50 ms slots (1,050, 1,150, ...) are not ticks of it.
    const coarser = setup({ store: ctx.store, clock: { now: T0 + 950 }, precisionMs: 100 });
    await coarser.timer.recover();
    const fired = new Map<string, number>();
    const check = async (c: { clock: { now: number }; timer: TimerMessageStore }, until: number) => {
      for (let t = c.clock.now - T0; t <= until; t += 10) {
        await at(c, t);
        for (const m of await visible(ctx.store)) if (!fired.has(m.body.toString())) fired.set(m.body.toString(), t);
      }
    };
    await check(coarser, 2_500);
    await coarser.timer.close();
    const finer = setup({ store: ctx.store, clock: { now: T0 + 2_510 }, precisionMs: 30 });
    await finer.timer.recover();
    await check(finer, 6_000);
    expect([...fired.keys()].sort()).toEqual(dues.map((d) => `at${d}`).sort());
    for (const d of dues) {
      const t = fired.get(`at${d}`)!;
      expect(t, `at${d}`).toBeGreaterThanOrEqual(d);
      expect(t - d, `at${d}`).toBeLessThanOrEqual(200);
    }
    expect(finer.timer.pendingCount()).toBe(0);
    await finer.timer.close();
  });

  it('cancels a pending timer (also across a restart); cancel again or of an unknown id is TIMER_NOT_FOUND, of a fired one TIMER_ALREADY_FIRED', async () => {
    const ctx = setup();
    await ctx.timer.recover();
    const [keep, drop, dropLater] = await send(ctx.store, ctx.timer, T0, [
      { body: 'keep', delaySeconds: 1 },
      { body: 'drop', delaySeconds: 2 },
      { body: 'drop-later', delaySeconds: 3 },
    ]);
    await at(ctx, 100);
    await expect(ctx.timer.cancel('T', drop!)).resolves.toEqual({ messageId: drop, deliverAt: T0 + 2_000 });
    await expect(ctx.timer.cancel('T', drop!)).rejects.toMatchObject({ code: 'TIMER_NOT_FOUND' });
    await expect(ctx.timer.cancel('T', 'AC1100000000000000000000DEADBEEF')).rejects.toMatchObject({ code: 'TIMER_NOT_FOUND' });
    await expect(ctx.timer.cancel('Other', dropLater!)).rejects.toMatchObject({ code: 'TIMER_NOT_FOUND' });
    await at(ctx, 1_000);
    await expect(ctx.timer.cancel('T', keep!)).rejects.toMatchObject({ code: 'TIMER_ALREADY_FIRED' });
    await ctx.timer.cancel('T', dropLater!);
    // A clean restart: the cancel is in the timer topic and the timer log.
    await ctx.timer.close();
    const again = setup({ store: ctx.store, clock: ctx.clock });
    await again.timer.recover();
    expect(again.timer.cancelled.has(dropLater!)).toBe(true);
    await at(again, 5_000);
    expect((await visible(ctx.store)).map((m) => m.body.toString())).toEqual(['keep']);
    await again.timer.close();
  });

  it('keeps a pending timer record through retention (small segments, nothing reserved) and fires it; its segment may go after', async () => {
    const store = fx.open();
    const ctx = setup({ store });
    holdRetentionForTimers(store.cleanCommitLogService, ctx.timer);
    // Before recovery nothing may go.
    await store.putMessages(makeBatch('Fill', 0, [{ body: 'x'.repeat(1000) }]));
    await ctx.timer.recover();
    for (let i = 0; i < 6; i++) await store.putMessages(makeBatch('Fill', 0, [{ body: 'x'.repeat(1000) }]));
    await send(store, ctx.timer, T0, [{ body: 'scheduled', delaySeconds: 60 }]);
    await at(ctx, 100);
    for (let i = 0; i < 30; i++) await store.putMessages(makeBatch('Fill', 0, [{ body: 'x'.repeat(1000) }]));
    store.flush();
    await new Promise((r) => setTimeout(r, 5)); // fileReservedTimeMs 1: every sealed segment is old enough
    const holding = store.commitLog.mappedFileQueue.mappedFiles.findIndex((f) => f.fileFromOffset + f.fileSize > ctx.timer.retentionHold());
    expect(holding).toBeGreaterThan(0);
    store.cleanCommitLogService.run();
    const left = store.commitLog.mappedFileQueue.mappedFiles;
    // The segments before the timer's went, the timer's stayed.
    expect(left[0]!.fileFromOffset).toBeLessThanOrEqual(ctx.timer.retentionHold());
    expect(left[0]!.fileFromOffset).toBeGreaterThan(0);
    await at(ctx, 60_000);
    expect((await visible(store)).map((m) => m.body.toString())).toEqual(['scheduled']);
    // Fired: nothing holds the log any more.
    const before = store.commitLog.mappedFileQueue.mappedFiles.length;
    store.cleanCommitLogService.run();
    expect(store.commitLog.mappedFileQueue.mappedFiles.length).toBeLessThan(before);
    await ctx.timer.close();
  });

  it('refuses a cancel while recovering', async () => {
    const ctx = setup();
    await expect(ctx.timer.cancel('T', 'AB')).rejects.toBeInstanceOf(CirrusError);
  });
});
