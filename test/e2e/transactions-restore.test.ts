/**
 * Transactions and the loss of the disk, with real processes: one broker with durability s3
 * (its local tier folder). Half messages are sent, one committed and one rolled back, then the
 * broker is SIGKILLed and its store folder wiped. Restored from the tier (write-ahead chunks
 * included), it rebuilds its table of pending transactions from the CommitLog: nothing pending
 * is visible, the pending one commits, the ended ones answer 409.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient, NameServerClient } from '@cirrusmq/client/protocol';
import { TransactionProducer } from '@cirrusmq/client';
import { waitFor } from '../../infra/local/wait-for';
import { type SingleBroker, singleBrokerProcs } from '../support/single-broker';
import { pullWholeQueue } from '../support/pull-queue';

const TOPIC = 'tx-restore';

let h: (SingleBroker & { client: BrokerClient; ns: NameServerClient; producer: TransactionProducer }) | undefined;

afterEach(async () => {
  if (!h) return;
  h.producer.shutdown();
  h.client.close();
  h.ns.close();
  await h.broker.stop('SIGTERM');
  await h.nameServer.stop('SIGTERM');
  if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(h.dataDir, { recursive: true, force: true });
  h = undefined;
});

const readIds = async (client: BrokerClient) =>
  [...(await pullWholeQueue(client, TOPIC, 0)), ...(await pullWholeQueue(client, TOPIC, 1))].map((m) => m.messageId).sort();

describe('transactions across a wiped disk', () => {
  it('restored from the tier (durability s3), keeps pending transactions pending and ended ones ended', async () => {
    const procs = await singleBrokerProcs('cirrusmq-tx-e2e-', { CIRRUSMQ_DURABILITY: 's3', CIRRUSMQ_TIER_CHECK_INTERVAL_MS: '100' });
    await procs.nameServer.start();
    await procs.broker.start();
    const ns = new NameServerClient(procs.nsAddr);
    const producer = new TransactionProducer({
      nameServer: procs.nsAddr,
      producerGroup: 'pg-restore',
      sendTimeoutMs: 15_000,
      listener: { executeLocalTransaction: () => 'UNKNOWN', checkLocalTransaction: () => 'UNKNOWN' },
    });
    h = { ...procs, ns, client: new BrokerClient(procs.brokerAddr), producer };
    const alive = async () => (await ns.getCluster()).some((b) => b.brokerName === 'broker-a' && b.alive);
    await waitFor('broker registered', 60_000, alive);
    await ns.createTopic({ topic: TOPIC, queues: 2 });

    const sent = [];
    for (const body of ['committed', 'rolled-back', 'pending']) sent.push(await producer.sendMessageInTransaction({ topic: TOPIC, body }));
    await producer.commit(sent[0]!.transactionId);
    await producer.rollback(sent[1]!.transactionId);
    expect(await readIds(h.client)).toEqual([sent[0]!.messageId]);
    await waitFor('the log durable in the tier', 20_000, async () => {
      const s = (await h!.client.stats(5_000)) as { commitLogMaxOffset: number; tier?: { wal?: { durableEnd: number } } };
      return (s.tier?.wal?.durableEnd ?? 0) >= s.commitLogMaxOffset;
    });

    await h.broker.stop('SIGKILL');
    fs.rmSync(path.join(h.dataDir, 'broker-a'), { recursive: true, force: true });
    await h.broker.start();
    await waitFor('broker registered again', 60_000, alive);
    expect(await readIds(h.client)).toEqual([sent[0]!.messageId]);
    await expect(producer.commit(sent[1]!.transactionId)).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED' });
    await expect(producer.rollback(sent[0]!.transactionId)).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_ENDED' });
    await producer.commit(sent[2]!.transactionId);
    expect(await readIds(h.client)).toEqual([sent[0]!.messageId, sent[2]!.messageId].sort());
  }, 90_000);
});
