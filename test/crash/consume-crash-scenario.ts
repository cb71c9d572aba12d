/**
 * The consume crash scenario, as real processes: a NameServer and one broker; producers send
 * without pause (BrokerClient, one message per send) while consumers of one group receive
 * (POP, long polling) and ack what they get; the broker is killed with SIGKILL (with
 * `powerLoss`, also the plug pulled: only fsynced bytes stay) at a random moment and
 * restarted on the same store, `rounds` times. Then the producers stop and the consumers go
 * on until every message a producer got SEND_OK for was delivered.
 *
 * Checked: every producer-acked message is delivered to the group at least once; and a
 * message whose ack answered OK is never delivered again ("redelivered after ack": the ack is
 * in the journal at the store's durability before it answers). Redeliveries of messages
 * delivered but not acked (a lease open at a kill, an ack lost with the connection) are
 * allowed and counted.
 *
 * Used by test/crash/consume-crash.crash.ts (npm run test:crash).
 */
import fs from 'node:fs';
import { BrokerClient, encodeSendBatch, NameServerClient, prepareMessage } from '@cirrusmq/client/protocol';
import { waitFor } from '../../infra/local/wait-for';
import { pullThePlug } from '../support/power-loss/power-loss';
import { singleBrokerProcs } from '../support/single-broker';

const TOPIC = 'consumecrash';
const GROUP = 'crash-consumers';

export interface ConsumeCrashOptions {
  rounds: number;
  producers?: number;
  consumers?: number;
  queues?: number;
  /** How long the clients run before each kill: a random time in [min, max] ms. */
  runMs?: [min: number, max: number];
  durability?: 'sync' | 'async';
  powerLoss?: boolean;
  brokerEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export interface ConsumeCrashReport {
  rounds: number;
  /** Messages a producer got SEND_OK for. */
  produced: number;
  /** Deliveries (POP answers), and distinct messages delivered. */
  deliveries: number;
  delivered: number;
  /** Acks answered OK. */
  acked: number;
  /** Producer-acked messages never delivered by the end. */
  missing: number;
  /** Deliveries of a message whose ack had answered OK before. */
  redeliveredAfterAck: number;
  /** Deliveries of a message delivered before and not acked OK (allowed: a lease open at a kill, an ack that failed). */
  redeliveredUnacked: number;
  /** Acks answered RECEIPT_HANDLE_EXPIRED (the lease ended first: invisibility passed while the broker was down). */
  expiredAcks: number;
  /** Per period the broker was up: acks OK in it (each period must have some: the broker came back consumable). */
  ackedPerPeriod: number[];
  /** Time from the producers' stop to every message delivered. */
  drainMs: number;
}

export async function runConsumeCrashScenario(options: ConsumeCrashOptions): Promise<ConsumeCrashReport> {
  const {
    rounds,
    producers: producerCount = 3,
    consumers: consumerCount = 2,
    queues = 4,
    runMs = [500, 2000],
    durability = 'sync',
    powerLoss = false,
  } = options;
  const log = options.log ?? (() => {});
  const {
    dataDir,
    nsAddr,
    brokerAddr,
    nameServer,
    broker,
    powerLoss: folders,
  } = await singleBrokerProcs(
    'cirrusmq-consumecrash-',
    {
      CIRRUSMQ_DURABILITY: durability,
      CIRRUSMQ_FLUSH_DISK_TYPE: durability === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH',
      CIRRUSMQ_TIER: 'off',
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(256 * 1024),
      CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '500',
      CIRRUSMQ_FLUSH_INTERVAL_MS: '100',
      // Snapshots within a round: restarts load one and replay the journal after it.
      CIRRUSMQ_POP_SNAPSHOT_INTERVAL_MS: '700',
      ...(powerLoss ? { CIRRUSMQ_INDEX_HASH_SLOTS: '1024', CIRRUSMQ_INDEX_MAX_ENTRIES: '4096' } : {}),
      ...options.brokerEnv,
    },
    { powerLoss },
  );
  const ns = new NameServerClient(nsAddr);
  const report: ConsumeCrashReport = {
    rounds,
    produced: 0,
    deliveries: 0,
    delivered: 0,
    acked: 0,
    missing: 0,
    redeliveredAfterAck: 0,
    redeliveredUnacked: 0,
    expiredAcks: 0,
    ackedPerPeriod: Array.from({ length: rounds + 1 }, () => 0),
    drainMs: 0,
  };
  const produced = new Set<string>();
  const delivered = new Set<string>();
  const ackedOk = new Set<string>();
  let period = 0;
  let producing = true;
  let consuming = true;
  const loops: Promise<void>[] = [];
  let failed = false;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await nameServer.start();
    await broker.start();
    await waitFor('broker registered', 20_000, async () => (await ns.getCluster()).some((b) => b.alive));
    await ns.createTopic({ topic: TOPIC, queues });
    await ns.putGroup(GROUP, { consumeFrom: 'earliest' });
    const probe = new BrokerClient(brokerAddr);
    await waitFor('topic on the broker', 20_000, async () =>
      probe.progress(TOPIC, GROUP).then(
        () => true,
        () => false,
      ),
    );
    probe.close();

    for (let w = 0; w < producerCount; w++) {
      loops.push(
        (async () => {
          let client = new BrokerClient(brokerAddr);
          for (let seq = 0; producing; seq++) {
            const m = prepareMessage({ topic: TOPIC, body: `p${w}-${seq}` });
            try {
              const r = await client.sendBatch(encodeSendBatch(TOPIC, seq % queues, [m]), 3_000);
              if (r.status === 'SEND_OK') produced.add(m.messageId);
            } catch {
              client.close();
              client = new BrokerClient(brokerAddr);
              await pause(30);
            }
          }
          client.close();
        })(),
      );
    }

    for (let c = 0; c < consumerCount; c++) {
      loops.push(
        (async () => {
          let client = new BrokerClient(brokerAddr);
          while (consuming) {
            try {
              const got = await client.pop({ topic: TOPIC, group: GROUP, max: 16, invisibleMs: 3_000, waitMs: 300 }, 'broker-a');
              for (const m of got) {
                report.deliveries++;
                if (ackedOk.has(m.messageId)) {
                  report.redeliveredAfterAck++;
                  log(`  redelivered after ack: ${m.messageId} queue ${m.queueId} offset ${m.queueOffset} attempt ${m.deliveryAttempt}`);
                } else if (delivered.has(m.messageId)) report.redeliveredUnacked++;
                delivered.add(m.messageId);
              }
              if (got.length === 0) continue;
              const ackPeriod = period;
              const res = await client.ack({ topic: TOPIC, group: GROUP, receiptHandles: got.map((m) => m.receiptHandle) });
              res.results.forEach((r, i) => {
                if (r.status === 'OK') {
                  ackedOk.add(got[i]!.messageId);
                  report.acked++;
                  report.ackedPerPeriod[ackPeriod]!++;
                } else if (r.error.code === 'RECEIPT_HANDLE_EXPIRED') report.expiredAcks++;
                else log(`  ack failed: ${r.error.code} ${r.error.message}`);
              });
            } catch {
              client.close();
              client = new BrokerClient(brokerAddr);
              await pause(30);
            }
          }
          client.close();
        })(),
      );
    }

    for (let round = 1; round <= rounds; round++) {
      await waitFor(`acks in period ${round - 1}`, 30_000, async () => report.ackedPerPeriod[round - 1]! > 0);
      const wait = runMs[0] + Math.floor(Math.random() * (runMs[1] - runMs[0]));
      await pause(wait);
      if (powerLoss) await pullThePlug(broker, folders!);
      else await broker.stop('SIGKILL');
      log(
        `round ${round}: SIGKILL${powerLoss ? ' and a pulled plug' : ''} after ${wait} ms: ${produced.size} produced, ${delivered.size} delivered, ${ackedOk.size} acked so far`,
      );
      await broker.start();
      period = round;
    }
    await waitFor(`acks in period ${rounds}`, 30_000, async () => report.ackedPerPeriod[rounds]! > 0);
    producing = false;
    const t0 = Date.now();
    await waitFor('every produced message delivered', 60_000, async () => [...produced].every((id) => delivered.has(id)));
    report.drainMs = Date.now() - t0;
    consuming = false;
    await Promise.all(loops);
    report.produced = produced.size;
    report.delivered = delivered.size;
    log(
      `${rounds} rounds (${durability}${powerLoss ? ', power loss' : ', SIGKILL'}): ${report.produced} produced, ${report.delivered} delivered in ${report.deliveries} deliveries, ` +
        `${report.acked} acked, ${report.redeliveredAfterAck} redelivered after ack, ${report.redeliveredUnacked} redelivered unacked, ${report.expiredAcks} expired acks, drained in ${report.drainMs} ms; acks per period ${report.ackedPerPeriod.join(' ')}`,
    );
    return report;
  } catch (e) {
    failed = true;
    report.missing = [...produced].filter((id) => !delivered.has(id)).length;
    log(`failed with ${report.missing} produced messages not delivered: ${String(e)}`);
    throw e;
  } finally {
    producing = false;
    consuming = false;
    await Promise.allSettled(loops);
    ns.close();
    await broker.stop('SIGTERM');
    await nameServer.stop('SIGTERM');
    if (failed || report.redeliveredAfterAck > 0 || process.env.CIRRUSMQ_KEEP_TEST_DATA === '1') log(`data and logs kept in ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
