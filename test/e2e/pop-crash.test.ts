/**
 * Group state across a SIGKILL of a SYNC_FLUSH broker process: committed offsets are where they
 * were, leased-unacked messages come back (attempt 2, after their invisibility), acked ones
 * never come back, and messages never delivered are delivered once. Then the same across a
 * power loss (SYNC_FLUSH and ASYNC_FLUSH), one round of the consume crash scenario, and a
 * durability s3 broker restored onto a wiped disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerClient, encodeSendBatch, NameServerClient, type PoppedMessage, prepareMessage } from '@cirrusmq/client/protocol';
import { waitFor } from '../../infra/local/wait-for';
import { runConsumeCrashScenario } from '../crash/consume-crash-scenario';
import { pullThePlug } from '../support/power-loss/power-loss';
import { type SingleBroker, type SingleBrokerOptions, singleBrokerProcs } from '../support/single-broker';

let env: SingleBroker | undefined;

async function stopEnv(): Promise<void> {
  await env?.broker.stop('SIGKILL');
  await env?.nameServer.stop('SIGTERM');
  if (env) fs.rmSync(env.dataDir, { recursive: true, force: true });
}

afterAll(stopEnv);

const TOPIC = 'PopCrash';
const GROUP = 'crash-group';

/** A NameServer and broker of their own (the previous pair gone) with TOPIC and GROUP (from the earliest) known to the broker. */
async function startEnv(
  tmpPrefix: string,
  brokerEnv: Record<string, string>,
  queues: number,
  options?: SingleBrokerOptions,
): Promise<{ env: SingleBroker; ns: NameServerClient; broker: BrokerClient }> {
  await stopEnv();
  env = await singleBrokerProcs(tmpPrefix, brokerEnv, options);
  await env.nameServer.start();
  await env.broker.start();
  const ns = new NameServerClient(env.nsAddr);
  await waitFor('broker registered', 30_000, async () => (await ns.getCluster()).some((b) => b.alive));
  await ns.createTopic({ topic: TOPIC, queues });
  await ns.putGroup(GROUP, { consumeFrom: 'earliest' });
  const broker = new BrokerClient(env.brokerAddr);
  await waitFor('topic on the broker', 30_000, async () =>
    broker.progress(TOPIC, GROUP).then(
      () => true,
      () => false,
    ),
  );
  return { env, ns, broker };
}

describe('POP state across kill -9', () => {
  it('keeps committed offsets and leases; redelivers the unacked, never the acked (SYNC_FLUSH)', async () => {
    const started = await startEnv('cirrusmq-popcrash-', { CIRRUSMQ_DURABILITY: 'sync', CIRRUSMQ_FLUSH_DISK_TYPE: 'SYNC_FLUSH' }, 2);
    const { env, ns } = started;
    let broker = started.broker;
    const sent = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const m = prepareMessage({ topic: TOPIC, body: `m${i}` });
      await broker.sendBatch(encodeSendBatch(TOPIC, i % 2, [m]));
      sent.add(m.messageId);
    }
    const pop = (waitMs: number, invisibleMs = 4_000, max = 32) => broker.pop({ topic: TOPIC, group: GROUP, max, invisibleMs, waitMs }, 'broker-a');
    const first: PoppedMessage[] = [];
    while (first.length < 30) first.push(...(await pop(0, 4_000, 30 - first.length)));
    const acked = first.slice(0, 20);
    const leased = first.slice(20);
    const res = await broker.ack({ topic: TOPIC, group: GROUP, receiptHandles: acked.map((m) => m.receiptHandle) });
    expect(res.results.every((r) => r.status === 'OK')).toBe(true);
    const before = await broker.progress(TOPIC, GROUP);
    const inFlightBefore = before.queues.reduce((s, q) => s + q.inFlight, 0);
    expect(inFlightBefore).toBe(leased.length);

    await env.broker.stop('SIGKILL');
    broker.close();
    await env.broker.start();
    broker = new BrokerClient(env.brokerAddr);

    const after = await broker.progress(TOPIC, GROUP);
    expect(after.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight])).toEqual(before.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight]));

    const ackedIds = new Set(acked.map((m) => m.messageId));
    const leasedIds = new Set(leased.map((m) => m.messageId));
    const again = new Map<string, PoppedMessage>();
    await waitFor('the unacked and the undelivered', 30_000, async () => {
      for (const m of await pop(2_000, 30_000)) {
        expect(ackedIds.has(m.messageId)).toBe(false);
        expect(again.has(m.messageId)).toBe(false);
        again.set(m.messageId, m);
      }
      return again.size === 20;
    });
    for (const id of leasedIds) expect(again.get(id)?.deliveryAttempt).toBe(2);
    const fresh = [...again.values()].filter((m) => !leasedIds.has(m.messageId));
    expect(fresh).toHaveLength(10);
    expect(fresh.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect(new Set([...ackedIds, ...again.keys()])).toEqual(sent);
    await broker.ack({ topic: TOPIC, group: GROUP, receiptHandles: [...again.values()].map((m) => m.receiptHandle) });
    expect(await pop(1_000)).toHaveLength(0);
    const end = await broker.progress(TOPIC, GROUP);
    expect(end.queues.map((q) => [q.committedOffset, q.inFlight, q.lag])).toEqual([
      [20, 0, 0],
      [20, 0, 0],
    ]);
    broker.close();
    ns.close();
  }, 120_000);

  // Acks answer once their journal record is stored at the store's durability: under SYNC_FLUSH on disk, so a power loss redelivers no acked
  // message. The ASYNC_FLUSH case (flush every 5 s; the messages flushed first, then receive + ack + plug at once) shows the window:
  // acks since the last flush come back.
  it.each([
    { durability: 'sync', flush: 'SYNC_FLUSH', ackedBack: false },
    { durability: 'async', flush: 'ASYNC_FLUSH', ackedBack: true },
  ])(
    'power loss ($flush): acked messages redelivered: $ackedBack',
    async ({ durability, flush, ackedBack }) => {
      const started = await startEnv(
        'cirrusmq-poppower-',
        { CIRRUSMQ_DURABILITY: durability, CIRRUSMQ_FLUSH_DISK_TYPE: flush, CIRRUSMQ_FLUSH_INTERVAL_MS: '5000', CIRRUSMQ_TIER: 'off' },
        1,
        { powerLoss: true },
      );
      const { env, ns } = started;
      let broker = started.broker;
      for (let i = 0; i < 10; i++) await broker.sendBatch(encodeSendBatch(TOPIC, 0, [prepareMessage({ topic: TOPIC, body: `p${i}` })]));
      // The messages themselves on disk: only the consume state is at stake here.
      await waitFor('the messages flushed', 30_000, async () => {
        const s = await broker.stats(2_000);
        return s !== null && (s.commitLogFlushedOffset as number) >= (s.commitLogMaxOffset as number);
      });
      const got = await broker.pop({ topic: TOPIC, group: GROUP, max: 10, invisibleMs: 1_000, waitMs: 0 }, 'broker-a');
      expect(got).toHaveLength(10);
      const res = await broker.ack({ topic: TOPIC, group: GROUP, receiptHandles: got.slice(0, 6).map((m) => m.receiptHandle) });
      expect(res.results.every((r) => r.status === 'OK')).toBe(true);

      await pullThePlug(env.broker, env.powerLoss!);
      broker.close();
      await env.broker.start();
      broker = new BrokerClient(env.brokerAddr);
      const acked = new Set(got.slice(0, 6).map((m) => m.messageId));
      const back = new Map<string, number>();
      await waitFor('the unacked back', 30_000, async () => {
        for (const m of await broker.pop({ topic: TOPIC, group: GROUP, max: 32, invisibleMs: 60_000, waitMs: 1_000 }, 'broker-a'))
          back.set(m.messageId, m.deliveryAttempt);
        return got.slice(6).every((m) => back.has(m.messageId));
      });
      const ackedBackCount = [...back.keys()].filter((id) => acked.has(id)).length;
      if (ackedBack) expect(ackedBackCount).toBeGreaterThan(0);
      else expect(ackedBackCount).toBe(0);
      broker.close();
      ns.close();
    },
    120_000,
  );

  // One round of test/crash/consume-crash.crash.ts: producers and consumers (POP + ack) while the broker is killed.
  it('one kill -9 while producing and consuming: every produced message delivered, none acked redelivered (SYNC_FLUSH)', async () => {
    const r = await runConsumeCrashScenario({ rounds: 1, durability: 'sync', runMs: [500, 1000] });
    expect(r.produced).toBeGreaterThan(50);
    expect(r.missing).toBe(0);
    expect(r.redeliveredAfterAck).toBe(0);
    expect(r.ackedPerPeriod.every((n) => n > 0)).toBe(true);
  }, 120_000);

  it('durability s3: a broker restored onto a wiped disk resumes the group where it was and accepts its old handles', async () => {
    const started = await startEnv('cirrusmq-popwipe-', { CIRRUSMQ_DURABILITY: 's3', CIRRUSMQ_POP_SNAPSHOT_INTERVAL_MS: '200' }, 1);
    const { env, ns } = started;
    let broker = started.broker;
    for (let i = 0; i < 10; i++) await broker.sendBatch(encodeSendBatch(TOPIC, 0, [prepareMessage({ topic: TOPIC, body: `w${i}` })]));
    const got = await broker.pop({ topic: TOPIC, group: GROUP, max: 6, invisibleMs: 60_000, waitMs: 0 }, 'broker-a');
    expect(got).toHaveLength(6);
    await broker.ack({ topic: TOPIC, group: GROUP, receiptHandles: got.slice(0, 4).map((m) => m.receiptHandle) });
    const before = await broker.progress(TOPIC, GROUP);
    // A snapshot copied to the tier (consumer/snapshot/{journal offset}): the restore starts from it.
    const snapshots = path.join(`${env.storeDir}-tier`, 'DefaultCluster', 'broker-a', 'consumer', 'snapshot');
    await waitFor('a snapshot in the tier', 30_000, async () => fs.existsSync(snapshots) && fs.readdirSync(snapshots).some((f) => /^\d{20}$/.test(f)));

    await env.broker.stop('SIGKILL');
    fs.rmSync(env.storeDir, { recursive: true, force: true });
    broker.close();
    await env.broker.start();
    broker = new BrokerClient(env.brokerAddr);
    const after = await broker.progress(TOPIC, GROUP);
    expect(after.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight])).toEqual(before.queues.map((q) => [q.committedOffset, q.cursor, q.inFlight]));
    expect(after.queues[0]).toMatchObject({ committedOffset: 4, cursor: 6, inFlight: 2 });
    // The key came back from the tier: the handles still leased are accepted, the acked ones answer expired.
    const res = await broker.ack({ topic: TOPIC, group: GROUP, receiptHandles: [got[4]!.receiptHandle, got[5]!.receiptHandle, got[0]!.receiptHandle] });
    expect(res.results.map((r) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual(['OK', 'OK', 'RECEIPT_HANDLE_EXPIRED']);
    const rest = await broker.pop({ topic: TOPIC, group: GROUP, max: 32, invisibleMs: 60_000, waitMs: 0 }, 'broker-a');
    expect(rest.map((m) => m.body.toString())).toEqual(['w6', 'w7', 'w8', 'w9']);
    const recovered = fs
      .readFileSync(path.join(env.dataDir, 'logs', 'broker.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('pop state recovered'));
    expect(recovered.at(-1)).toContain('"source":"tier"');
    broker.close();
    ns.close();
  }, 120_000);
});
