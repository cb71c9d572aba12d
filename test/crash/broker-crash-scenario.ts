/**
 * The broker crash scenario, as real processes: a NameServer and one broker with SYNC_FLUSH
 * (or durability `s3`) and small segments; several producers (the SDK Producer, direct to
 * the broker) send without pause; the broker is killed with SIGKILL at a random moment and
 * restarted on the same store, `rounds` times. With `wipeStore` the store folder is deleted
 * after each kill, as when a container is replaced with its disk: the broker restores from
 * its tier (a local folder, or S3 on moto with `brokerEnv`). Afterwards every acknowledged (SEND_OK) message must be
 * readable with its exact body at its queue offset, each queue's offsets must run from 0
 * without a gap, and no CommitLog offset may appear twice in the ConsumeQueues.
 *
 * Used by test/crash/broker-crash.crash.ts (npm run test:crash, CRASH_ROUNDS rounds) and by
 * test/e2e/broker-crash.test.ts (one round, in npm test).
 */
import fs from 'node:fs';
import { BrokerClient } from '../../client/src/api/broker-client';
import { NameServerClient } from '../../client/src/api/nameserver-client';
import type { MessageExt } from '../../client/src/message';
import { Producer } from '../../client/src/producer/producer';
import { waitFor } from '../../infra/local/wait-for';
import { singleBrokerProcs } from '../support/single-broker';

const TOPIC = 'crashtest';

export interface CrashScenarioOptions {
  rounds: number;
  producers?: number;
  queues?: number;
  /** How long the producers run before each kill: a random time in [min, max] ms. */
  runMs?: [min: number, max: number];
  /** 'sync' (default): the ack waits for fdatasync; 's3': for the write-ahead chunk in the tier. */
  durability?: 'sync' | 's3';
  /** Delete the broker's store folder after each SIGKILL (needs durability 's3' to keep every ack). */
  wipeStore?: boolean;
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
  problems: string[];
}

interface Acked {
  queueId: number;
  queueOffset: number;
  body: string;
}

export async function runBrokerCrashScenario(options: CrashScenarioOptions): Promise<CrashScenarioReport> {
  const { rounds, producers: producerCount = 4, queues = 4, runMs = [300, 1500], durability = 'sync', wipeStore = false } = options;
  const log = options.log ?? (() => {});
  const { dataDir, nsAddr, brokerAddr, storeDir, nameServer, broker } = await singleBrokerProcs('cirrusmq-crash-', {
    CIRRUSMQ_DURABILITY: durability,
    // Sealed segments reach the tier within a few hundred ms, so restores cross both kinds of data.
    CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '200',
    CIRRUSMQ_S3_WAL_WINDOW_MS: '20',
    // Small segments and ConsumeQueue files: kills land on rollovers too.
    CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(64 * 1024),
    CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '200',
    CIRRUSMQ_FLUSH_INTERVAL_MS: '100',
    ...options.brokerEnv,
  });
  const nsClient = new NameServerClient(nsAddr);
  const producers = Array.from(
    { length: producerCount },
    () => new Producer({ nameServer: nsAddr, retryTimesWhenSendFailed: 0, sendTimeoutMs: 3_000, brokerIsolationMs: 0 }),
  );
  const reader = new BrokerClient(brokerAddr);
  const acked: Acked[] = [];
  const report: CrashScenarioReport = { rounds, acked: 0, flushDiskTimeouts: 0, failedSends: 0, stored: 0, unacked: 0, problems: [] };
  let sending = true;
  const loops: Promise<void>[] = [];
  let failed = false;
  try {
    await nameServer.start();
    await broker.start();
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
            try {
              const results = await producer.sendBatch(messages);
              results.forEach((r, i) => {
                if (r.status === 'SEND_OK') acked.push({ queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, body: messages[i]!.body.toString() });
                else report.flushDiskTimeouts++;
              });
            } catch {
              report.failedSends++;
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        })(),
      );
    }

    for (let round = 1; round <= rounds; round++) {
      const wait = runMs[0] + Math.floor(Math.random() * (runMs[1] - runMs[0]));
      await new Promise((r) => setTimeout(r, wait));
      await broker.stop('SIGKILL');
      if (wipeStore) fs.rmSync(storeDir, { recursive: true, force: true });
      log(`round ${round}: SIGKILL${wipeStore ? ' and a wiped store folder' : ''} after ${wait} ms, ${acked.length} acked so far`);
      await broker.start();
    }
    // Let the producers see the broker back before stopping them.
    await new Promise((r) => setTimeout(r, 300));
    sending = false;
    await Promise.all(loops);
    report.acked = acked.length;

    // Read every queue from 0 straight from the broker.
    const byQueue = new Map<number, MessageExt[]>();
    for (let q = 0; q < queues; q++) byQueue.set(q, await readQueue(reader, TOPIC, q));
    const seenCommitLogOffsets = new Set<number>();
    for (const [q, msgs] of byQueue) {
      report.stored += msgs.length;
      msgs.forEach((m, i) => {
        if (m.queueOffset !== i) report.problems.push(`queue ${q}: message ${i} has queue offset ${m.queueOffset}`);
        if (seenCommitLogOffsets.has(m.commitLogOffset)) report.problems.push(`queue ${q}: commit-log offset ${m.commitLogOffset} indexed twice`);
        seenCommitLogOffsets.add(m.commitLogOffset);
      });
    }
    for (const a of acked) {
      const m = byQueue.get(a.queueId)?.[a.queueOffset];
      if (!m) report.problems.push(`acknowledged message lost: queue ${a.queueId} offset ${a.queueOffset}`);
      else if (m.body.toString() !== a.body) report.problems.push(`queue ${a.queueId} offset ${a.queueOffset}: body differs from the acknowledged one`);
    }
    report.unacked = report.stored - acked.length;
    log(
      `${rounds} rounds: ${report.acked} acked, ${report.stored} stored (${report.unacked} without an ack), ` +
        `${report.failedSends} failed sends, ${report.flushDiskTimeouts} FLUSH_DISK_TIMEOUT, ${report.problems.length} problems`,
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
    if (failed || report.problems.length > 0 || process.env.CIRRUSMQ_KEEP_TEST_DATA === '1') log(`data and logs kept in ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function readQueue(client: BrokerClient, topic: string, queueId: number): Promise<MessageExt[]> {
  const all: MessageExt[] = [];
  for (;;) {
    const page = await client.pull(topic, queueId, all.length, 256);
    if (page.messages.length === 0) return all;
    all.push(...page.messages);
  }
}

