/**
 * npm run bench:transactions -- [--sends 100000] [--batch 32] [--e2e 20000] [--producers 32]
 *
 * Issue 14's figure "transactional send + commit throughput against plain sends (>= 0.5x)", two ways,
 * each alternately (A B A B, 4 rounds) and as messages/s and their ratio:
 *
 * 1. store level (one process: DefaultMessageStore + TransactionalMessageService, the broker's
 *    put and end paths): `--sends` messages (100-byte bodies) in batches of `--batch`, then of 1:
 *      plain:          one put of the batch into its queue
 *      transactional:  one put of the batch as half messages, then a commit of each (all at
 *                      once, as a producer's callbacks would), which appends each to its queue
 *    A transaction writes three records (half, committed, op) where a plain send writes one.
 * 2. end to end (`--e2e` messages; 0 skips): a NameServer and a broker as processes, `--producers`
 *    concurrent senders in this process, one message per send: Producer.send against
 *    TransactionProducer.sendMessageInTransaction committing each (a send and a commit request).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeSendBatch, encodeSendBatch, markHalfMessages, prepareMessage, silentLogger } from '@cirrusmq/client/protocol';
import { Producer, TransactionProducer } from '@cirrusmq/client';
import { NameServerClient } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { TransactionalMessageService } from '../../broker-node/src/transaction/transactional-message-service';
import { waitFor } from '../../infra/local/wait-for';
import { singleBrokerProcs } from '../support/single-broker';

const { values } = parseArgs({
  options: {
    sends: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '32' },
    e2e: { type: 'string', default: '20000' },
    producers: { type: 'string', default: '32' },
  },
});
const SENDS = Number(values.sends);
const MiB = 1024 * 1024;
const BODY = 'x'.repeat(100);

async function open(dir: string) {
  const store = await new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 512 * MiB, consumeQueueUnitsPerFile: 1_000_000, flushIntervalMs: 500 },
    silentLogger,
  ).open();
  const tx = new TransactionalMessageService(
    store,
    { brokerName: 'bench', checkFirstMs: 6_000, checkIntervalMs: 30_000, checkMax: 15, checkUrlTimeoutMs: 3_000 },
    silentLogger,
  );
  await tx.recover();
  return { store, tx };
}

async function throughput(dir: string, batch: number): Promise<void> {
  const { store, tx } = await open(dir);
  const run = async (transactional: boolean, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      const now = Date.now();
      const prepared = Array.from({ length: batch }, () => prepareMessage({ topic: 'Tput', body: BODY }, 4096, now, true));
      if (transactional) markHalfMessages(prepared, 'bench-group');
      const ids = prepared.map((p) => p.messageId);
      await tx.putMessages(decodeSendBatch(encodeSendBatch('Tput', 0, prepared), 1000), undefined, (b) => store.putMessages(b));
      if (transactional) await Promise.all(ids.map((id) => tx.end(id, 'COMMIT')));
    }
    return n / ((performance.now() - t0) / 1000);
  };
  const rates = { plain: [] as number[], tx: [] as number[] };
  for (let round = 0; round < 4; round++) {
    rates.plain.push(await run(false, SENDS / 8));
    rates.tx.push(await run(true, SENDS / 8));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `batches of ${batch} (in process): plain ${mean(rates.plain).toFixed(0)} msg/s, transactional send + commit ${mean(rates.tx).toFixed(0)} msg/s, ratio ${(mean(rates.tx) / mean(rates.plain)).toFixed(2)}`,
  );
  await tx.close();
  await store.shutdown();
}

async function endToEnd(n: number, concurrency: number): Promise<void> {
  const procs = await singleBrokerProcs('cirrusmq-bench-tx-e2e-', { CIRRUSMQ_LOG_LEVEL: 'warn' });
  const ns = new NameServerClient(procs.nsAddr);
  const plain = new Producer({ nameServer: procs.nsAddr, sendTimeoutMs: 30_000 });
  const tx = new TransactionProducer({
    nameServer: procs.nsAddr,
    producerGroup: 'bench-group',
    sendTimeoutMs: 30_000,
    listener: { executeLocalTransaction: () => 'COMMIT', checkLocalTransaction: () => 'COMMIT' },
  });
  try {
    await procs.nameServer.start();
    await procs.broker.start();
    await waitFor('broker registered', 60_000, async () => (await ns.getCluster()).some((b) => b.alive));
    await ns.createTopic({ topic: 'TxBench', queues: 8 });
    const run = async (transactional: boolean, count: number) => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < count) {
            const msg = { topic: 'TxBench', body: BODY };
            if (transactional) await tx.sendMessageInTransaction(msg);
            else await plain.send(msg);
          }
        }),
      );
      return count / ((performance.now() - t0) / 1000);
    };
    await run(false, 2_000);
    await run(true, 2_000);
    const rates = { plain: [] as number[], tx: [] as number[] };
    for (let round = 0; round < 4; round++) {
      rates.plain.push(await run(false, n / 8));
      rates.tx.push(await run(true, n / 8));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `end to end (${concurrency} concurrent senders, one message a send): plain ${mean(rates.plain).toFixed(0)} msg/s, transactional send + commit ${mean(rates.tx).toFixed(0)} msg/s, ratio ${(mean(rates.tx) / mean(rates.plain)).toFixed(2)}`,
    );
  } finally {
    plain.shutdown();
    tx.shutdown();
    ns.close();
    await procs.broker.stop('SIGTERM');
    await procs.nameServer.stop('SIGTERM');
    fs.rmSync(procs.dataDir, { recursive: true, force: true });
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-tx-'));
try {
  if (SENDS > 0) {
    await throughput(path.join(root, 'batched'), Number(values.batch));
    await throughput(path.join(root, 'single'), 1);
  }
  if (Number(values.e2e) > 0) await endToEnd(Number(values.e2e), Number(values.producers));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
