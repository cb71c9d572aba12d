/**
 * npx tsx --conditions=cirrusmq-source test/bench/remoting-ab.ts [--rounds 6 --seconds 2 --loops 4 --transports http,remoting]
 *
 * The transport's cost alone: a broker (its server, store and PopService) and receive 32 +
 * ack loops in ONE process, alternating HTTP and remoting slices of a few seconds, and the
 * process's CPU per acked message in each. Broker and client CPU together, so the difference
 * between the two is what the transport costs on both sides; alternating short slices keeps a
 * busy machine's drift out of the comparison (bench:pop-path runs one transport per cluster,
 * minutes apart, and on a shared machine its figures move more than the transport does).
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { BrokerClient, type BrokerTransportKind } from '@cirrusmq/client/protocol';
import { PopFixture } from '../../broker-node/src/testing/pop-fixture';
import { fmt, median } from './stats';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '2' },
    loops: { type: 'string', default: '4' },
    messages: { type: 'string', default: '400000' },
    /** The transports alternated (one alone: the same slices for comparing two trees). */
    transports: { type: 'string', default: 'http,remoting' },
  },
});
const BATCH = 32;
const log = (s: string) => process.stdout.write(`${s}\n`);

const f = await new PopFixture().start();
f.nameServer.addTopic('bench', 4);
const addr = `127.0.0.1:${(f.server.address() as AddressInfo).port}`;
try {
  const body = 'x'.repeat(1024);
  const total = Number(values.messages);
  for (let sent = 0; sent < total; sent += 4 * 256) {
    for (let q = 0; q < 4; q++)
      await f.send(
        'bench',
        q,
        Array.from({ length: 256 }, () => body),
      );
  }
  const perMsg: Record<BrokerTransportKind, number[]> = { http: [], remoting: [] };
  for (let round = 0; round <= Number(values.rounds); round++) {
    for (const transport of values.transports.split(',') as BrokerTransportKind[]) {
      const client = new BrokerClient(addr, { transport });
      const group = `ab-${round}-${transport}`;
      f.groups.put(group);
      await client.progress('bench', group);
      const cpu0 = process.cpuUsage();
      const deadline = performance.now() + Number(values.seconds) * 1000;
      let acked = 0;
      await Promise.all(
        Array.from({ length: Number(values.loops) }, async () => {
          while (performance.now() < deadline) {
            const got = await client.pop({ topic: 'bench', group, max: BATCH, invisibleMs: 60_000, waitMs: 0 }, 'broker-a');
            if (got.length === 0) throw new Error('out of messages: raise --messages');
            await client.ack({ topic: 'bench', group, receiptHandles: got.map((m) => m.receiptHandle) });
            acked += got.length;
          }
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      client.close();
      const us = (cpu.user + cpu.system) / acked;
      if (round > 0) perMsg[transport].push(us);
      log(`${round === 0 ? 'warm-up' : `round ${round}`} ${transport.padEnd(8)}: ${fmt(acked)} acked, ${fmt(us, 2)} µs CPU/msg (broker + client)`);
    }
  }
  const h = median(perMsg.http);
  const r = median(perMsg.remoting);
  const figures = [perMsg.http.length > 0 ? `http ${fmt(h, 2)}` : '', perMsg.remoting.length > 0 ? `remoting ${fmt(r, 2)}` : ''].filter(Boolean);
  const ratio = perMsg.http.length > 0 && perMsg.remoting.length > 0 ? ` (remoting/http ${fmt(r / h, 2)})` : '';
  log(`median µs CPU per acked message, broker + client in one process: ${figures.join(', ')}${ratio}`);
} finally {
  await f.close();
}
