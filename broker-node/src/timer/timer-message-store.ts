/**
 * TimerMessageStore (RocketMQ 5, RIP-43): scheduled messages kept on disk, not in the heap.
 *
 *   put path (timer-put.ts)     -> record under rmq_sys_wheel_timer (CommitLog: durable, tiered);
 *                                  the put hands each record's place and due time over (handOff)
 *   enqueue  (every tick)       -> from `enqueueOffset` of that topic's queue: the handed-over
 *                                  records as they are, anything else (rolls, cancels, a batch
 *                                  split over segments, all after a restart) read back from the
 *                                  ConsumeQueue; one timer-log unit per record, linked into its slot
 *   dequeue  (every tick)       -> for each due tick: walk its slot's list, read the records,
 *                                  append each to its real queue (or, if it was only parked there
 *                                  because it lies beyond the wheel, append it again under the
 *                                  timer topic: rolled forward)
 *   checkpoint (every second)   -> fdatasync the timer log, then {enqueueOffset, logEnd, readTimeMs}
 *
 * One loop does all three, so they never run at once. Recovery (timer-recovery.ts) rebuilds the
 * wheel from the timer log and replays the topic after the checkpoint. A timer never fires early:
 * a message due at t is linked into the first tick >= t, and a tick fires once the clock reaches it.
 *
 * Retention: the CommitLog keeps every segment holding a pending timer's record (retentionHold,
 * wired into CleanCommitLogService.canDelete), and a timer beyond half the wheel's span is rolled
 * forward (re-appended) each half span, so what is held is at most half a span old (12 h by default).
 */
import path from 'node:path';
import fs from 'node:fs';
import { CirrusError, Field, type Logger, type PreparedMessage, readRecordShape, type SendBatch } from '@cirrusmq/client/protocol';
import { writeFileDurably } from '../store/durable-file';
import type { MessageStore, PutMessageResult } from '../store/message-store-types';
import { ServiceThread } from '../service-thread';
import { TimerLog, UNIT_DELETE, UNIT_NORMAL, UNIT_SIZE, writeUnit } from './timer-log';
import { DeliveryBatch } from './timer-delivery';
import { type HandedOff, HandedOffQueue } from './timer-hand-off';
import { batchOf, cancelMessage, readTimerRecord, rolledMessage, TIMER_TOPIC, type TimerRecord } from './timer-record';
import { type CommitLogReader, eachRecord, readTimerRecordAt, readTimerRecords, UNIT_FIELDS } from './timer-record-reader';
import { TimerWheel } from './timer-wheel';

export type TimerBackingStore = Pick<MessageStore, 'putMessages' | 'getMessage' | 'getMaxOffsetInQueue' | 'getMinOffsetInQueue' | 'queryMessageById'> &
  CommitLogReader;

export interface TimerConfig {
  storeDir: string;
  precisionMs: number;
  wheelSpanMs: number;
  maxDelayMs: number;
  /** Timer-log units per file (40 bytes each); default 1M (40 MB files, sparse). */
  unitsPerFile?: number;
  checkpointIntervalMs?: number;
  /** Granularity of the retention hold's pending counts (default 1 MiB of CommitLog: one map entry per MiB holding a timer). */
  holdBucketBytes?: number;
  now?: () => number;
}

interface Checkpoint {
  enqueueOffset: number;
  logEnd: number;
  readTimeMs: number;
}

const ENQUEUE_BATCH = 256;
/** Handed-over records enqueued with one timer-log write at most. */
const ENQUEUE_HANDED_OFF = 8192;
const MAX_PUT_MESSAGES = 1000;
const MAX_PUT_BYTES = 4 * 1024 * 1024;

/** How often an idle wheel's read time is checkpointed (a busy one: every checkpointIntervalMs). */
const IDLE_CHECKPOINT_MS = 60_000;

export class TimerMessageStore extends ServiceThread {
  readonly precisionMs: number;
  readonly maxDelayMs: number;
  private readonly rollWindowMs: number;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly log: TimerLog;
  private readonly wheel: TimerWheel;
  private readonly checkpointIntervalMs: number;
  private lastCheckpoint: Checkpoint = { enqueueOffset: -1, logEnd: -1, readTimeMs: 0 };
  private readonly holdBucket: number;
  /** The next tick to fire. */
  private readTimeMs = 0;
  /** The next queue offset of the timer topic to enqueue. */
  private enqueueOffset = 0;
  /** Ticks at or before this were due while the broker was down: their messages may have fired before the crash, so each is checked. */
  private startTickMs = 0;
  private lastCheckpointMs = 0;
  private recovered = false;
  /** Pending timers per MiB of CommitLog: what retention must keep. */
  private readonly pendingByBucket = new Map<number, number>();
  /** CommitLog offset of the first timer record not yet enqueued (Infinity: none). */
  private firstUnenqueued = Number.POSITIVE_INFINITY;
  /** Cancelled ids and their due time (pruned once long past). */
  readonly cancelled = new Map<string, number>();
  /** The records being appended to their queues right now (one list per fireUnits): a cancel of one answers TIMER_ALREADY_FIRED. */
  private readonly firing = new Set<TimerRecord[]>();
  /** Timer records the put path stored, by queue offset, not yet enqueued (memory only: a restart reads them back). */
  private readonly handedOff = new HandedOffQueue();
  /** fireTick's units: deliverMs, offsetPy, sizePy each (grown as a tick needs). */
  private tickUnits = new Float64Array(16_384 * UNIT_FIELDS);
  /** Counters for /metrics and tests. */
  readonly counters = { enqueued: 0, fired: 0, rolled: 0, cancelled: 0, skippedDuplicates: 0, lost: 0, handedOff: 0 };

  constructor(
    private readonly store: TimerBackingStore,
    config: TimerConfig,
    logger: Logger,
  ) {
    super(logger);
    this.precisionMs = config.precisionMs;
    this.maxDelayMs = config.maxDelayMs;
    this.rollWindowMs = Math.floor(config.wheelSpanMs / 2 / config.precisionMs) * config.precisionMs;
    this.dir = path.join(config.storeDir, 'timer');
    this.now = config.now ?? Date.now;
    this.checkpointIntervalMs = config.checkpointIntervalMs ?? 1000;
    this.holdBucket = config.holdBucketBytes ?? 1 << 20;
    this.log = new TimerLog(path.join(this.dir, 'timerlog'), config.unitsPerFile ?? 1 << 20);
    this.wheel = new TimerWheel(path.join(this.dir, 'timerwheel'), config.precisionMs, config.wheelSpanMs);
  }

  getServiceName(): string {
    return 'TimerMessageStore';
  }

  /** The first tick at or after `ms`. */
  tickOf(ms: number): number {
    return Math.ceil(ms / this.precisionMs) * this.precisionMs;
  }

  /**
   * Rebuilds the wheel from the timer log: every unit the checkpoint has not seen fire is
   * linked again (those due while the broker was down into the current tick), then the
   * timer topic after the checkpoint is enqueued. Resolves once pending timers are all known.
   */
  async recover(): Promise<void> {
    const cp = this.readCheckpoint();
    fs.mkdirSync(this.dir, { recursive: true });
    this.log.open(cp?.logEnd ?? 0);
    this.wheel.open();
    this.startTickMs = this.tickOf(this.now());
    this.readTimeMs = this.startTickMs;
    const firedBefore = cp?.readTimeMs ?? 0;
    const deletes: number[] = [];
    let relinked = 0;
    for (const { pos, unit } of this.log.scan()) {
      if (unit.magic === UNIT_DELETE) {
        if (this.tickOf(unit.deliverMs) + this.precisionMs >= firedBefore) deletes.push(unit.offsetPy, unit.sizePy);
        continue;
      }
      if (unit.magic !== UNIT_NORMAL || unit.slotMs < firedBefore) continue;
      // On this start's ticks: a log written with another CIRRUSMQ_TIMER_PRECISION_MS holds slots
      // this loop never reads (150 ms under a 100 ms tick); rounded up, so never early.
      const slotMs = Math.max(this.tickOf(unit.slotMs), this.readTimeMs);
      unit.slotMs = slotMs;
      unit.prevPos = this.wheel.lastPos(slotMs);
      this.log.rewrite(pos, unit);
      this.wheel.link(slotMs, pos);
      this.addPending(unit.offsetPy, 1);
      if (++relinked % 10_000 === 0) this.wheel.flushPending();
    }
    this.wheel.flushPending();
    for (let i = 0; i < deletes.length; i += 2) {
      const r = await readTimerRecordAt(this.store, deletes[i]!, deletes[i + 1]!);
      if (r?.cancels) this.cancelled.set(r.cancels, r.deliverMs);
    }
    const min = this.store.getMinOffsetInQueue(TIMER_TOPIC, 0);
    this.enqueueOffset = Math.max(cp?.enqueueOffset ?? 0, min);
    await this.enqueue();
    this.recovered = true;
    this.writeCheckpoint();
    this.logger.info('timer store recovered', { relinked, cancelled: this.cancelled.size, enqueueOffset: this.enqueueOffset, readTimeMs: this.readTimeMs });
  }

  protected async runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForRunning(Math.max(1, this.readTimeMs - this.now()), signal);
      if (signal.aborted) return;
      try {
        await this.pass();
      } catch (err) {
        this.logger.error('timer pass failed', { err: String(err), stack: err instanceof Error ? err.stack : undefined });
      }
    }
  }

  /** One round: enqueue what arrived, fire every due tick, checkpoint when due. */
  async pass(): Promise<void> {
    await this.enqueue();
    while (this.readTimeMs <= this.now()) {
      await this.fireTick(this.readTimeMs);
      this.readTimeMs += this.precisionMs;
      // Timers arriving during a long catch-up still find their ticks ahead of the read time.
      await this.enqueue();
    }
    const since = this.now() - this.lastCheckpointMs;
    // An idle wheel (nothing enqueued or appended since) only moves its read time: a checkpoint a
    // minute bounds the ticks a restart re-reads, without three fsyncs a second for nothing.
    const idle = this.enqueueOffset === this.lastCheckpoint.enqueueOffset && this.log.endPos === this.lastCheckpoint.logEnd;
    if (since >= (idle ? IDLE_CHECKPOINT_MS : this.checkpointIntervalMs)) this.writeCheckpoint();
  }

  /**
   * A timer record was appended at `commitLogOffset`: retention keeps it until enqueued. The
   * loop wakes at once unless `wake` is false: the put path's records wait for the next tick
   * (at most precisionMs), which enqueues before it fires, so no timer fires later for it,
   * and one pass enqueues a tick's sends with one timer-log write instead of one per send.
   */
  noteAppended(commitLogOffset: number, wake = true): void {
    if (commitLogOffset < this.firstUnenqueued) this.firstUnenqueued = commitLogOffset;
    if (wake || this.handedOff.wantsWake) this.wakeup();
  }

  /**
   * The put path stored `records` (a batch under the timer topic) as `result` says, due at
   * `deliverMs`: the loop enqueues them from here, without reading them back. Only a batch
   * stored back to back (no segment change within it) is taken; the ConsumeQueue stays the
   * truth, so anything not taken, or lost with the process, is read from there.
   */
  handOff(result: PutMessageResult, records: SendBatch['records'], deliverMs: readonly number[]): void {
    this.handedOff.offer(result, records, deliverMs, this.enqueueOffset);
  }

  /** Handed-over timer records not yet enqueued (held in memory only). */
  get handedOffWaiting(): number {
    return this.handedOff.count;
  }

  /** The CommitLog offset retention must not delete past (a segment may go only if it ends at or below it). */
  retentionHold(): number {
    if (!this.recovered) return 0;
    let min = this.firstUnenqueued;
    for (const bucket of this.pendingByBucket.keys()) if (bucket * this.holdBucket < min) min = bucket * this.holdBucket;
    return min;
  }

  /** Pending timers (enqueued, not yet fired or cancelled). */
  pendingCount(): number {
    let n = 0;
    for (const c of this.pendingByBucket.values()) n += c;
    return n;
  }

  private addPending(offsetPy: number, delta: number): void {
    const bucket = Math.floor(offsetPy / this.holdBucket);
    const n = (this.pendingByBucket.get(bucket) ?? 0) + delta;
    if (n <= 0) this.pendingByBucket.delete(bucket);
    else this.pendingByBucket.set(bucket, n);
  }

  private async enqueue(): Promise<void> {
    for (;;) {
      const max = this.store.getMaxOffsetInQueue(TIMER_TOPIC, 0);
      if (this.enqueueOffset >= max) {
        this.firstUnenqueued = Number.POSITIVE_INFINITY;
        this.handedOff.clear();
        return;
      }
      const next = this.handedOff.next(this.enqueueOffset);
      if (next && next.queueOffset <= this.enqueueOffset) {
        this.enqueueHandedOff(next);
        continue;
      }
      // Read back only up to the next handed-over batch.
      const limit = next ? Math.min(ENQUEUE_BATCH, next.queueOffset - this.enqueueOffset) : ENQUEUE_BATCH;
      let got: Awaited<ReturnType<TimerBackingStore['getMessage']>>;
      try {
        got = await this.store.getMessage(TIMER_TOPIC, 0, this.enqueueOffset, limit);
      } catch (e) {
        if (e instanceof CirrusError && e.code === 'OFFSET_BELOW_MINIMUM') {
          this.enqueueOffset = this.store.getMinOffsetInQueue(TIMER_TOPIC, 0);
          continue;
        }
        throw e;
      }
      if (got.count === 0) {
        if (got.nextOffset <= this.enqueueOffset) return;
        this.enqueueOffset = got.nextOffset;
        continue;
      }
      this.enqueueRecords(got.records, got.count);
      this.enqueueOffset = got.nextOffset;
    }
  }

  /**
   * Units for `first` (from enqueueOffset on) and the handed-over batches right after it, with
   * one timer-log write: each record's place follows from its batch's first and the sizes.
   */
  private enqueueHandedOff(first: HandedOff): void {
    const batches = [first];
    let units = first.queueOffset + first.sizes.length - this.enqueueOffset;
    while (units < ENQUEUE_HANDED_OFF) {
      const h = this.handedOff.takeAt(this.enqueueOffset + units);
      if (!h) break;
      batches.push(h);
      units += h.sizes.length;
    }
    const buf = Buffer.allocUnsafe(units * UNIT_SIZE);
    let n = 0;
    for (const h of batches) {
      const skip = Math.max(0, this.enqueueOffset - h.queueOffset);
      let offsetPy = h.commitLogOffset;
      for (let i = 0; i < skip; i++) offsetPy += h.sizes[i]!;
      for (let i = skip; i < h.sizes.length; i++) {
        const sizePy = h.sizes[i]!;
        this.placeUnit(buf, n++, offsetPy, sizePy, h.deliverMs[i]!);
        offsetPy += sizePy;
      }
    }
    this.log.append(buf, n);
    this.wheel.flushPending();
    this.enqueueOffset += n;
    this.counters.handedOff += n;
  }

  /** Writes the unit of a timer due at `deliverMs` as the `n`th of `units` and links it into its slot. */
  private placeUnit(units: Buffer, n: number, offsetPy: number, sizePy: number, deliverMs: number): void {
    let slotMs = Math.max(this.tickOf(deliverMs), this.readTimeMs);
    // Beyond the wheel: parked half a span ahead, then appended again (rolled forward) from there.
    if (slotMs - this.readTimeMs >= this.rollWindowMs) slotMs = this.readTimeMs + this.rollWindowMs;
    writeUnit(units, n * UNIT_SIZE, { slotMs, deliverMs, offsetPy, prevPos: this.wheel.lastPos(slotMs), sizePy, magic: UNIT_NORMAL });
    this.wheel.link(slotMs, this.log.nextPos(n));
    this.addPending(offsetPy, 1);
    this.counters.enqueued++;
  }

  private enqueueRecords(records: Buffer, count: number): void {
    const units = Buffer.allocUnsafe(count * UNIT_SIZE);
    let n = 0;
    let pos = 0;
    while (pos < records.length) {
      const shape = readRecordShape(records, pos, records.length);
      if (!shape) break;
      const offsetPy = Number(records.readBigInt64BE(pos + Field.PHYSICALOFFSET));
      const r = readTimerRecord(records.subarray(pos, pos + shape.size));
      pos += shape.size;
      if (!r) {
        this.logger.warn('timer: a record of the timer topic without a schedule, skipped', { offsetPy });
        continue;
      }
      if (r.cancels !== undefined) {
        this.cancelled.set(r.cancels, r.deliverMs);
        writeUnit(units, n++ * UNIT_SIZE, { slotMs: r.deliverMs, deliverMs: r.deliverMs, offsetPy, prevPos: -1, sizePy: shape.size, magic: UNIT_DELETE });
        continue;
      }
      this.placeUnit(units, n++, offsetPy, shape.size, r.deliverMs);
    }
    if (n > 0) this.log.append(units, n);
    this.wheel.flushPending();
  }

  private async fireTick(tickMs: number): Promise<void> {
    // The slot's units as numbers (deliverMs, offsetPy, sizePy per unit), no object per timer.
    let n = 0;
    for (let p = this.wheel.lastPos(tickMs); p >= 0; n++) {
      if ((n + 1) * UNIT_FIELDS > this.tickUnits.length) {
        const grown = new Float64Array(this.tickUnits.length * 2);
        grown.set(this.tickUnits);
        this.tickUnits = grown;
      }
      p = this.log.readBackwardInto(p, this.tickUnits, n * UNIT_FIELDS);
    }
    if (n === 0) return;
    const units = this.tickUnits;
    // Linked backwards: the append order is the reverse.
    for (let i = 0, j = n - 1; i < j; i++, j--) {
      for (let f = 0; f < UNIT_FIELDS; f++) {
        const t = units[i * UNIT_FIELDS + f]!;
        units[i * UNIT_FIELDS + f] = units[j * UNIT_FIELDS + f]!;
        units[j * UNIT_FIELDS + f] = t;
      }
    }
    // A copy per slice: the array is the loop's own, and a slice's appends may wait while a later tick reads.
    for (let i = 0; i < n; i += MAX_PUT_MESSAGES) {
      await this.fireUnits(tickMs, units.slice(i * UNIT_FIELDS, Math.min(n, i + MAX_PUT_MESSAGES) * UNIT_FIELDS));
    }
  }

  /** Fires `units` (UNIT_FIELDS numbers each, as fireTick reads them) of the tick `tickMs`. */
  private async fireUnits(tickMs: number, units: Float64Array): Promise<void> {
    const count = units.length / UNIT_FIELDS;
    const records = await readTimerRecords(this.store, units);
    // One batch per real queue, built from the stored bytes (timer-delivery.ts); a burst's are mostly one queue's.
    const batches: DeliveryBatch[] = [];
    const full: DeliveryBatch[] = [];
    let last: DeliveryBatch | undefined;
    let capacity = 1024;
    for (let i = 0; i < count; i++) capacity += units[i * UNIT_FIELDS + 2]!;
    const rolls: PreparedMessage[] = [];
    // What is being appended to its queue: a cancel of one of them answers TIMER_ALREADY_FIRED.
    const delivering: TimerRecord[] = [];
    this.firing.add(delivering);
    try {
      for (let i = 0; i < count; i++) {
        const deliverMs = units[i * UNIT_FIELDS]!;
        const offsetPy = units[i * UNIT_FIELDS + 1]!;
        const r = records[i];
        this.addPending(offsetPy, -1);
        if (!r) {
          this.counters.lost++;
          this.logger.error('timer: the record of a due timer is gone from the CommitLog', { offsetPy, sizePy: units[i * UNIT_FIELDS + 2]! });
          continue;
        }
        if (this.cancelled.size > 0 && this.cancelled.has(r.messageId)) continue;
        // The tick of the restart holds what fell due while the broker was down: some of it may have fired or rolled before the crash.
        if (tickMs <= this.startTickMs && (await this.firedOrRolledBefore(r, offsetPy))) {
          this.counters.skippedDuplicates++;
          continue;
        }
        if (deliverMs > tickMs) {
          rolls.push(rolledMessage(r));
          continue;
        }
        let batch = last !== undefined && last.queueId === r.realQueueId && last.topic === r.realTopic ? last : undefined;
        if (!batch) {
          for (const b of batches) if (b.queueId === r.realQueueId && b.topic === r.realTopic) batch = b;
          if (!batch) {
            batch = new DeliveryBatch(r.realTopic, r.realQueueId, capacity);
            capacity = 4096;
            batches.push(batch);
          }
        }
        if (batch.bytes + r.shape.size > MAX_PUT_BYTES && batch.count > 0) {
          full.push(batch);
          const next = new DeliveryBatch(r.realTopic, r.realQueueId, 4096);
          batches[batches.indexOf(batch)] = next;
          batch = next;
        }
        last = batch;
        batch.add(r);
        delivering.push(r);
      }
      const puts: Promise<unknown>[] = [];
      for (const b of full) puts.push(this.store.putMessages(b.batch()));
      for (const b of batches) if (b.count > 0) puts.push(this.store.putMessages(b.batch()));
      this.counters.fired += delivering.length;
      for (const chunk of chunks(rolls)) puts.push(this.putTimerRecords(chunk));
      this.counters.rolled += rolls.length;
      await Promise.all(puts);
    } finally {
      this.firing.delete(delivering);
    }
  }

  /** After a restart: whether a timer due while the broker was down fired (its id is in its queue) or rolled (a newer timer record has its id) before the crash. */
  private async firedOrRolledBefore(r: TimerRecord, offsetPy: number): Promise<boolean> {
    const found = await this.store.queryMessageById(r.messageId, 64);
    for (const other of eachRecord(found.records)) {
      if (other.topic !== TIMER_TOPIC) {
        if (other.topic === r.realTopic) return true;
      } else if (other.offset > offsetPy) return true;
    }
    return false;
  }

  private async putTimerRecords(messages: PreparedMessage[]): Promise<PutMessageResult> {
    const put = this.store.putMessages(batchOf(TIMER_TOPIC, 0, messages));
    const result = await put;
    this.noteAppended(result.commitLogOffset);
    return result;
  }

  /**
   * Cancels the pending timer of `messageId` in `topic` (RocketMQ's RecallMessage): a cancel
   * record goes to the timer topic (so the cancel survives a crash) and the id is dropped when
   * its tick fires. TIMER_ALREADY_FIRED when it is in its queue, TIMER_NOT_FOUND when no
   * pending timer has that id (never scheduled here, cancelled already, or past due and gone).
   */
  async cancel(topic: string, messageId: string): Promise<{ messageId: string; deliverAt: number }> {
    if (!this.recovered) throw new CirrusError('SERVICE_NOT_AVAILABLE', 'the timer store is recovering');
    const newest = await this.findPending(topic, messageId);
    if (this.isFiring(messageId)) throw alreadyFired(messageId);
    if (this.cancelled.has(messageId)) throw notFound(messageId);
    this.cancelled.set(messageId, newest.deliverMs);
    // It may have fired while the lookup ran: once in `cancelled` it cannot start to, and one that did is in the index now.
    try {
      await this.findPending(topic, messageId);
    } catch (e) {
      this.cancelled.delete(messageId);
      throw e;
    }
    await this.putTimerRecords([cancelMessage(messageId, topic, newest.deliverMs, this.now())]);
    this.counters.cancelled++;
    return { messageId, deliverAt: newest.deliverMs };
  }

  /** Whether `messageId` is being appended to its queue: a scan, since a cancel is rare and a firing keeps no id string per timer. */
  private isFiring(messageId: string): boolean {
    for (const records of this.firing) for (const r of records) if (r.messageId === messageId) return true;
    return false;
  }

  private async findPending(topic: string, messageId: string): Promise<{ deliverMs: number }> {
    const found = await this.store.queryMessageById(messageId, 64);
    let newest: { offset: number; deliverMs: number } | undefined;
    for (const rec of eachRecord(found.records)) {
      if (rec.topic === topic) throw alreadyFired(messageId);
      if (rec.topic !== TIMER_TOPIC || rec.timer?.realTopic !== topic || rec.timer.cancels !== undefined) continue;
      if (!newest || rec.offset > newest.offset) newest = { offset: rec.offset, deliverMs: rec.timer.deliverMs };
    }
    if (!newest || this.tickOf(newest.deliverMs) < this.readTimeMs) throw notFound(messageId);
    return newest;
  }

  private readCheckpoint(): Checkpoint | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, 'timercheck'), 'utf8')) as Checkpoint;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** The log's units first, then the checkpoint naming them; then timer-log files and cancels long past go. */
  private writeCheckpoint(): void {
    this.log.sync();
    const cp: Checkpoint = { enqueueOffset: this.enqueueOffset, logEnd: this.log.endPos, readTimeMs: this.readTimeMs };
    writeFileDurably(path.join(this.dir, 'timercheck'), JSON.stringify(cp));
    this.lastCheckpointMs = this.now();
    this.lastCheckpoint = cp;
    this.log.deleteExpired(this.readTimeMs);
    for (const [id, at] of this.cancelled) if (this.tickOf(at) + this.precisionMs < this.readTimeMs) this.cancelled.delete(id);
  }

  /** Stops the loop and writes a last checkpoint. */
  async close(): Promise<void> {
    await this.shutdown();
    if (this.recovered) this.writeCheckpoint();
    this.log.close();
    this.wheel.close();
  }
}

function alreadyFired(messageId: string): CirrusError {
  return new CirrusError('TIMER_ALREADY_FIRED', `message ${messageId} has fired: it is in its queue`);
}

function notFound(messageId: string): CirrusError {
  return new CirrusError('TIMER_NOT_FOUND', `no pending scheduled message ${messageId}`);
}

function* chunks(messages: PreparedMessage[]): Generator<PreparedMessage[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const size = (m.body as Uint8Array).length + m.propertiesLength + 200;
    if (i > start && (i - start >= MAX_PUT_MESSAGES || bytes + size > MAX_PUT_BYTES)) {
      yield messages.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < messages.length) yield messages.slice(start);
}
