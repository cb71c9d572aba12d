/**
 * The broker crash scenario, as real processes: a NameServer and one broker with SYNC_FLUSH
 * (or durability `s3`, or `async`) and small segments; several producers (the SDK Producer,
 * direct to the broker) send without pause; the broker is killed with SIGKILL at a random
 * moment and restarted on the same store, `rounds` times. Before each kill after the first,
 * a send started after the restart must have been acknowledged (the broker came back
 * writable). With `wipeStore` the store folder is deleted
 * after each kill, as when a container is replaced with its disk: the broker restores from
 * its tier (a local folder, or S3 on moto with `brokerEnv`). With `powerLoss` the broker runs
 * over the power-loss file layer and each kill also pulls the plug: the store and the local
 * tier keep only what completed fsyncs made durable (test/support/power-loss/), since SIGKILL
 * alone keeps the page cache and an ASYNC_FLUSH broker would pass.
 * Afterwards every acknowledged (SEND_OK) message must be
 * readable with its exact body at its queue offset (else it counts as lost), each queue's offsets must run from 0
 * without a gap, and no CommitLog offset may appear twice in the ConsumeQueues.
 *
 * The tier is checked too: before each kill the messages below the tier's end (GET /v1/stats,
 * tier.tieredMaxOffset) are read, and each must still be there at the end with its body at
 * its queue offset and CommitLog offset. The tier's copy is durable whatever the disk lost,
 * so one missing or replaced is a structural problem even where losses are expected (an
 * ASYNC_FLUSH broker whose disk came back behind its tier must not give those offsets again).
 *
 * Failed sends are counted by when they started: in flight at a kill (at most one batch per
 * producer), while the broker was down (unbounded: the producers retry every 20 ms), and
 * while it was up (a failure there is the broker's, or a timeout on a loaded machine).
 *
 * Used by test/crash/broker-crash.crash.ts (npm run test:crash, CRASH_ROUNDS rounds) and by
 * test/e2e/broker-crash.test.ts (one round, in npm test).
 */
import fs from 'node:fs';
import { BrokerClient, type MessageExt, NameServerClient } from '@cirrusmq/client/protocol';
import { Producer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { pullThePlug } from '../support/power-loss/power-loss';
import { singleBrokerProcs } from '../support/single-broker';
import { pullWholeQueue } from '../support/pull-queue';

const TOPIC = 'crashtest';

export interface CrashScenarioOptions {
  rounds: number;
  producers?: number;
  queues?: number;
  /** How long the producers run before each kill: a random time in [min, max] ms. */
  runMs?: [min: number, max: number];
  /** 'sync' (default): the ack waits for fdatasync; 's3': for the write-ahead chunk in the tier; 'async': for the write only. */
  durability?: 'sync' | 's3' | 'async';
  /** Delete the broker's store folder after each SIGKILL (needs durability 's3' to keep every ack). */
  wipeStore?: boolean;
  /** Each SIGKILL also pulls the plug: only what completed fsyncs made durable stays (test/support/power-loss/). */
  powerLoss?: boolean;
  /** The test expects lost messages (ASYNC_FLUSH under power loss): only other problems keep the data folder. */
  lossExpected?: boolean;
  /**
   * Before each kill, wait (up to 30 s) until the tier holds this many messages per round so
   * far: the uploader runs at a low CPU priority, so on a busy machine a fixed run time may
   * end before anything was tiered.
   */
  awaitTieredPerRound?: number;
  /** More broker settings (an S3 tier: CIRRUSMQ_TIER_BUCKET, CIRRUSMQ_TABLE_NAME, AWS_ENDPOINT_URL). */
  brokerEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export interface CrashScenarioReport {
  rounds: number;
  acked: number;
  flushDiskTimeouts: number;
  failedSends: number;
  stored: number;
  /** Messages stored without an ack (the broker died before answering): allowed. */
  unacked: number;
  /** Acknowledged messages not readable with their body at their queue offset. */
  lost: number;
  /** Messages that were in the tier at a kill (each checked at the end). */
  tieredChecked: number;
  /** Every problem found: lost messages, then queues with gaps or a CommitLog offset twice. */
  problems: string[];
  /** The problems other than lost messages: the store is inconsistent, not only behind. */
  structuralProblems: string[];
  /** Per period the broker was up: [0] before the first kill, [k] after the k-th restart. */
  periods: PeriodReport[];
}

export interface PeriodReport {
  /** Sends started in this period (up, or down after its end) and acknowledged (SEND_OK), in messages. */
  acked: number;
  /** Of those, lost by the end (a later crash took them). */
  lost: number;
  /** FLUSH_DISK_TIMEOUT answers to sends started in this period, in messages. */
  flushDiskTimeouts: number;
  /** Sends (batches) started and failed while the broker was up. */
  failedWhileUp: number;
  /** Sends (batches) started in this period that failed because the kill ending it came. */
  failedAtKill: number;
  /** Sends (batches) started after the kill ending this period, before the restart answered. */
  failedWhileDown: number;
}

interface Acked {
  queueId: number;
  queueOffset: number;
  body: string;
  period: number;
}

export async function runBrokerCrashScenario(options: CrashScenarioOptions): Promise<CrashScenarioReport> {
  const { rounds, producers: producerCount = 4, queues = 4, runMs = [300, 1500], durability = 'sync', wipeStore = false, powerLoss = false } = options;
  const log = options.log ?? (() => {});
  const {
    dataDir,
    nsAddr,
    brokerAddr,
    storeDir,
    nameServer,
    broker,
    powerLoss: folders,
  } = await singleBrokerProcs(
    'cirrusmq-crash-',
    {
      CIRRUSMQ_DURABILITY: durability,
      // Sealed segments reach the tier within a few hundred ms, so restores cross both kinds of data.
      CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '200',
      CIRRUSMQ_S3_WAL_WINDOW_MS: '20',
      // Small segments and ConsumeQueue files: kills land on rollovers too.
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(64 * 1024),
      CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '200',
      CIRRUSMQ_FLUSH_INTERVAL_MS: '100',
      // Small index files: the power-loss layer copies each file's image at every start.
      ...(powerLoss ? { CIRRUSMQ_INDEX_HASH_SLOTS: '1024', CIRRUSMQ_INDEX_MAX_ENTRIES: '4096' } : {}),
      ...options.brokerEnv,
    },
    { powerLoss },
  );
  const nsClient = new NameServerClient(nsAddr);
  const producers = Array.from(
    { length: producerCount },
    () => new Producer({ nameServer: nsAddr, retryTimesWhenSendFailed: 0, sendTimeoutMs: 3_000, brokerIsolationMs: 0 }),
  );
  const reader = new BrokerClient(brokerAddr);
  const acked: Acked[] = [];
  const periods: PeriodReport[] = Array.from({ length: rounds + 1 }, () => ({
    acked: 0,
    lost: 0,
    flushDiskTimeouts: 0,
    failedWhileUp: 0,
    failedAtKill: 0,
    failedWhileDown: 0,
  }));
  const report: CrashScenarioReport = {
    rounds,
    acked: 0,
    flushDiskTimeouts: 0,
    failedSends: 0,
    stored: 0,
    unacked: 0,
    lost: 0,
    tieredChecked: 0,
    problems: [],
    structuralProblems: [],
    periods,
  };
  // Messages seen below the tier's end before a kill, by "queueId:queueOffset"; where each queue's next check starts.
  const tiered = new Map<string, TieredSeen>();
  const tieredNext = Array.from({ length: queues }, () => 0);
  // The broker's phase: up in period `period` (after its period-th start), or down after the kill ending it.
  let period = 0;
  let up = false;
  let sending = true;
  const loops: Promise<void>[] = [];
  let failed = false;
  try {
    await nameServer.start();
    await broker.start();
    up = true;
    await waitFor('broker registered', 20_000, async () => (await nsClient.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive));
    await nsClient.createTopic({ topic: TOPIC, queues });

    // Producers send batches of 1..5 small messages, back to back, through every crash.
    for (let w = 0; w < producerCount; w++) {
      const producer = producers[w]!;
      loops.push(
        (async () => {
          for (let seq = 0; sending; seq++) {
            const n = 1 + (seq % 5);
            const messages = Array.from({ length: n }, (_, i) => ({ topic: TOPIC, body: Buffer.from(`p${w}-${seq}-${i}-${'x'.repeat((seq * 7 + i) % 200)}`) }));
            const startPeriod = period;
            const startedUp = up;
            try {
              const results = await producer.sendBatch(messages);
              results.forEach((r, i) => {
                if (r.status === 'SEND_OK') {
                  acked.push({ queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, body: messages[i]!.body.toString(), period: startPeriod });
                  periods[startPeriod]!.acked++;
                } else {
                  report.flushDiskTimeouts++;
                  periods[startPeriod]!.flushDiskTimeouts++;
                }
              });
            } catch {
              report.failedSends++;
              if (!startedUp) periods[startPeriod]!.failedWhileDown++;
              else if (up && period === startPeriod) periods[startPeriod]!.failedWhileUp++;
              else periods[startPeriod]!.failedAtKill++;
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        })(),
      );
    }

    for (let round = 1; round <= rounds; round++) {
      await waitForAck(periods, round - 1);
      const wait = runMs[0] + Math.floor(Math.random() * (runMs[1] - runMs[0]));
      await new Promise((r) => setTimeout(r, wait));
      await readTiered(reader, queues, round, tiered, tieredNext, report.structuralProblems, log);
      const wanted = round * (options.awaitTieredPerRound ?? 0);
      if (tiered.size < wanted) {
        await waitFor(`${wanted} tiered messages`, 30_000, async () => {
          await readTiered(reader, queues, round, tiered, tieredNext, report.structuralProblems, log);
          return tiered.size >= wanted;
        });
      }
      up = false;
      if (powerLoss) await pullThePlug(broker, folders!);
      else await broker.stop('SIGKILL');
      if (wipeStore) fs.rmSync(storeDir, { recursive: true, force: true });
      log(
        `round ${round}: SIGKILL${powerLoss ? ' and a pulled plug' : ''}${wipeStore ? ' and a wiped store folder' : ''} after ${wait} ms, ${acked.length} acked so far`,
      );
      await broker.start();
      period = round;
      up = true;
    }
    await waitForAck(periods, rounds);
    sending = false;
    await Promise.all(loops);
    report.acked = acked.length;

    // Read every queue from 0 straight from the broker.
    const byQueue = new Map<number, MessageExt[]>();
    for (let q = 0; q < queues; q++) byQueue.set(q, await pullWholeQueue(reader, TOPIC, q));
    const seenCommitLogOffsets = new Set<number>();
    for (const [q, msgs] of byQueue) {
      report.stored += msgs.length;
      msgs.forEach((m, i) => {
        if (m.queueOffset !== i) report.structuralProblems.push(`queue ${q}: message ${i} has queue offset ${m.queueOffset}`);
        if (seenCommitLogOffsets.has(m.commitLogOffset)) report.structuralProblems.push(`queue ${q}: commit-log offset ${m.commitLogOffset} indexed twice`);
        seenCommitLogOffsets.add(m.commitLogOffset);
      });
    }
    for (const [key, t] of tiered) {
      const [q, offset] = key.split(':').map(Number) as [number, number];
      const m = byQueue.get(q)?.[offset];
      if (m?.body.toString() === t.body && m.commitLogOffset === t.commitLogOffset) continue;
      report.structuralProblems.push(
        `queue ${q} offset ${offset}: a message in the tier at kill ${t.round} (CommitLog offset ${t.commitLogOffset}) is ${m ? `replaced by one at CommitLog offset ${m.commitLogOffset}` : 'gone'}`,
      );
    }
    report.tieredChecked = tiered.size;
    for (const a of acked) {
      const m = byQueue.get(a.queueId)?.[a.queueOffset];
      // After a loss the offset is given again: a later message there is not the acknowledged one.
      const problem = !m ? 'lost' : m.body.toString() !== a.body ? 'lost (another body at its offset)' : undefined;
      if (!problem) continue;
      report.lost++;
      periods[a.period]!.lost++;
      report.problems.push(`acknowledged message ${problem}: queue ${a.queueId} offset ${a.queueOffset}, acked in period ${a.period}`);
    }
    report.problems.push(...report.structuralProblems);
    for (const line of [...report.problems.slice(0, 10), ...report.structuralProblems.slice(0, 10)]) log(`  problem: ${line}`);
    // A loss reuses offsets, so stored minus acked is only a count of messages without an ack when nothing was lost.
    report.unacked = report.stored - (acked.length - report.lost);
    log(
      `${rounds} rounds: ${report.acked} acked, ${report.lost} lost, ${report.stored} stored (${report.unacked} without an ack), ` +
        `${report.failedSends} failed sends, ${report.flushDiskTimeouts} FLUSH_DISK_TIMEOUT, ${report.structuralProblems.length} structural problems, ${report.tieredChecked} tiered messages checked`,
    );
    periods.forEach((p, i) =>
      log(
        `  period ${i}: ${p.acked} acked (${p.lost} lost), ${p.flushDiskTimeouts} FLUSH_DISK_TIMEOUT, failed sends: ${p.failedWhileUp} while up, ${p.failedAtKill} at the kill, ${p.failedWhileDown} while down`,
      ),
    );
    return report;
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    sending = false;
    await Promise.allSettled(loops);
    for (const p of producers) p.shutdown();
    reader.close();
    nsClient.close();
    await broker.stop('SIGTERM');
    await nameServer.stop('SIGTERM');
    const unexpected = options.lossExpected ? report.structuralProblems.length > 0 : report.problems.length > 0;
    if (failed || unexpected || process.env.CIRRUSMQ_KEEP_TEST_DATA === '1') log(`data and logs kept in ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

interface TieredSeen {
  body: string;
  commitLogOffset: number;
  /** The kill it was seen before. */
  round: number;
}

/**
 * Reads the messages below the tier's end now (the broker is up, the kill comes next),
 * continuing each queue where the last read stopped. One seen before with another body is a
 * problem at once. A broker too busy to answer in time is read before the next kill instead.
 */
async function readTiered(
  reader: BrokerClient,
  queues: number,
  round: number,
  tiered: Map<string, TieredSeen>,
  next: number[],
  problems: string[],
  log: (line: string) => void,
): Promise<void> {
  const stats = await reader.stats(5_000);
  const end = (stats?.tier as { tieredMaxOffset?: number } | undefined)?.tieredMaxOffset ?? 0;
  if (end === 0) return;
  try {
    for (let q = 0; q < queues; q++) {
      for (let more = true; more; ) {
        const page = await reader.pull(TOPIC, q, next[q]!, 256);
        more = page.messages.length > 0;
        for (const m of page.messages) {
          if (m.commitLogOffset >= end) {
            more = false;
            break;
          }
          const key = `${q}:${m.queueOffset}`;
          const body = m.body.toString();
          const seen = tiered.get(key);
          if (seen && (seen.body !== body || seen.commitLogOffset !== m.commitLogOffset)) {
            problems.push(`queue ${q} offset ${m.queueOffset}: a message in the tier at kill ${seen.round} was replaced before kill ${round}`);
          }
          if (!seen) tiered.set(key, { body, commitLogOffset: m.commitLogOffset, round });
          next[q] = m.queueOffset + 1;
        }
      }
    }
  } catch (e) {
    log(`  tier check before kill ${round} stopped early: ${String(e)}`);
  }
}

/** A send started in period `p`, with the broker up, was acknowledged: the broker is back and writable. */
function waitForAck(periods: PeriodReport[], p: number): Promise<void> {
  return waitFor(`a send acknowledged in period ${p}`, 30_000, async () => periods[p]!.acked > 0);
}
