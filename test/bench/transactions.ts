/**
 * npm run bench:transactions -- [--sends 100000] [--batch 32] [--e2e 40000] [--producers 32] [--auto-batch off,on]
 *
 * Issue 14's figure "transactional send + commit throughput against plain sends (>= 0.5x)", two ways,
 * each alternately (A B A B, 4 rounds) and as messages/s and their ratio:
 *
 * 1. store level (one process: DefaultMessageStore + TransactionalMessageService, the broker's
 *    put and end paths): `--sends` messages (100-byte bodies) in batches of `--batch`, then of 1:
 *      plain:          one put of the batch into its queue
 *      transactional:  one put of the batch as half messages, then a commit of each (all at
 *                      once, as a producer's callbacks would), which appends each to its queue
 *    Then `--producers` one-message sends at once (to 8 queues), then their commits: the shape
 *    of the end-to-end row below (its senders' sends and their merged commits) without the network.
 *    A transaction writes three records (half, committed, op) where a plain send writes one.
 *    Each row also gives this process's CPU per message (steadier than msg/s on a busy machine).
 * 2. end to end (`--e2e` messages; 0 skips): a NameServer and a broker as processes, `--producers`
 *    concurrent senders in this process, one message per send: Producer.send against
 *    TransactionProducer.sendMessageInTransaction committing each (a send and a commit request),
 *    with both producers' autoBatch off (a request per send), then on (concurrent sends merged).
 *    Each row also gives the CPU per message of the broker process and of this one.
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
import { cpuSeconds, withChildren } from './proc-cpu';
import { singleBrokerProcs } from '../support/single-broker';

const { values } = parseArgs({
  options: {
    sends: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '32' },
    e2e: { type: 'string', default: '40000' },
    producers: { type: 'string', default: '32' },
    /** The end-to-end rows to run: autoBatch off, on, or both (in that order). */
    'auto-batch': { type: 'string', default: 'off,on' },
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

/**
 * `concurrent`: `batch` one-message sends in one turn (to queues 0-7 in turn), then their
 * commits: the end-to-end row's shape (32 senders, autoBatch off) without the network.
 */
async function throughput(dir: string, batch: number, concurrent = false): Promise<void> {
  const { store, tx } = await open(dir);
  const cpu = { plain: 0, tx: 0 };
  const put = (queueId: number, prepared: ReturnType<typeof prepareMessage>[]) =>
    tx.putMessages(decodeSendBatch(encodeSendBatch('Tput', queueId, prepared), 1000), undefined, (b) => store.putMessages(b));
  const run = async (transactional: boolean, n: number) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      const now = Date.now();
      const prepared = Array.from({ length: batch }, () => prepareMessage({ topic: 'Tput', body: BODY }, 4096, now, true));
      if (transactional) markHalfMessages(prepared, 'bench-group');
      const ids = prepared.map((p) => p.messageId);
      if (concurrent) await Promise.all(prepared.map((p, j) => put(j % 8, [p])));
      else await put(0, prepared);
      if (transactional) await Promise.all(ids.map((id) => tx.end(id, 'COMMIT')));
    }
    const rate = n / ((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu[transactional ? 'tx' : 'plain'] += (c.user + c.system) / n;
    return rate;
  };
  const rates = { plain: [] as number[], tx: [] as number[] };
  for (let round = 0; round < 4; round++) {
    rates.plain.push(await run(false, SENDS / 8));
    rates.tx.push(await run(true, SENDS / 8));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `${concurrent ? `${batch} concurrent single sends` : `batches of ${batch}`} (in process): plain ${mean(rates.plain).toFixed(0)} msg/s, transactional send + commit ${mean(rates.tx).toFixed(0)} msg/s, ratio ${(mean(rates.tx) / mean(rates.plain)).toFixed(2)}`,
  );
  // CPU, not wall time: steadier than msg/s on a shared machine (the plain/tx ratio of these is the cost ratio).
  console.log(`  CPU µs per message: plain ${(cpu.plain / 4).toFixed(1)}, transactional ${(cpu.tx / 4).toFixed(1)}, ratio ${(cpu.plain / cpu.tx).toFixed(2)}`);
  await tx.close();
  await store.shutdown();
}

async function endToEnd(n: number, concurrency: number): Promise<void> {
  const procs = await singleBrokerProcs('cirrusmq-bench-tx-e2e-', { CIRRUSMQ_LOG_LEVEL: 'warn' });
  const ns = new NameServerClient(procs.nsAddr);
  try {
    await procs.nameServer.start();
    await procs.broker.start();
    await waitFor('broker registered', 60_000, async () => (await ns.getCluster()).some((b) => b.alive));
    await ns.createTopic({ topic: 'TxBench', queues: 8 });
    // Both sides with the same producer options: without autoBatch each send is a request; with it, concurrent sends merge (half messages among themselves).
    const rows = String(values['auto-batch'])
      .split(',')
      .map((v) => v.trim() === 'on');
    for (const autoBatch of rows) await endToEndRow(procs.nsAddr, procs.broker.child!.pid!, n, concurrency, autoBatch);
  } finally {
    ns.close();
    await procs.broker.stop('SIGTERM');
    await procs.nameServer.stop('SIGTERM');
    fs.rmSync(procs.dataDir, { recursive: true, force: true });
  }
}

async function endToEndRow(nsAddr: string, brokerPid: number, n: number, concurrency: number, autoBatch: boolean): Promise<void> {
  const plain = new Producer({ nameServer: nsAddr, sendTimeoutMs: 30_000, autoBatch });
  const tx = new TransactionProducer({
    nameServer: nsAddr,
    producerGroup: 'bench-group',
    sendTimeoutMs: 30_000,
    autoBatch,
    listener: { executeLocalTransaction: () => 'COMMIT', checkLocalTransaction: () => 'COMMIT' },
  });
  const zero = () => ({ broker: 0, client: 0, n: 0 });
  let cpu = { plain: zero(), tx: zero() };
  const run = async (transactional: boolean, count: number) => {
    let next = 0;
    const b0 = cpuSeconds(withChildren([brokerPid]));
    const c0 = process.cpuUsage();
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
    const rate = count / ((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    const side = cpu[transactional ? 'tx' : 'plain'];
    side.broker += cpuSeconds(withChildren([brokerPid])) - b0;
    side.client += (c.user + c.system) / 1e6;
    side.n += count;
    return rate;
  };
  try {
    await run(false, 2_000);
    await run(true, 2_000);
    cpu = { plain: zero(), tx: zero() };
    const rates = { plain: [] as number[], tx: [] as number[] };
    for (let round = 0; round < 4; round++) {
      rates.plain.push(await run(false, n / 8));
      rates.tx.push(await run(true, n / 8));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `end to end, autoBatch ${autoBatch ? 'on ' : 'off'} (${concurrency} concurrent senders, one message a send): plain ${mean(rates.plain).toFixed(0)} msg/s, transactional send + commit ${mean(rates.tx).toFixed(0)} msg/s, ratio ${(mean(rates.tx) / mean(rates.plain)).toFixed(2)}`,
    );
    // The processes' CPU (the broker's from /proc, all its threads; this process's own): the cost per message whatever the load beside it.
    const us = (s: { broker: number; client: number; n: number }) =>
      `broker ${((s.broker / s.n) * 1e6).toFixed(0)}, client ${((s.client / s.n) * 1e6).toFixed(0)}`;
    console.log(`  CPU µs per message: plain ${us(cpu.plain)}; transactional ${us(cpu.tx)}`);
  } finally {
    plain.shutdown();
    tx.shutdown();
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-tx-'));
try {
  if (SENDS > 0) {
    await throughput(path.join(root, 'batched'), Number(values.batch));
    await throughput(path.join(root, 'single'), 1);
    await throughput(path.join(root, 'concurrent'), Number(values.producers), true);
  }
  if (Number(values.e2e) > 0) await endToEnd(Number(values.e2e), Number(values.producers));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
