/**
 * The official RocketMQ 5 Node client with TLS on (sslEnabled), in a process of its own:
 * grpc-js reads the trusted roots when it starts, so the test's own certificate authority
 * comes in by GRPC_DEFAULT_SSL_ROOTS_FILE_PATH on this process only. Started as
 *   node --import tsx test/support/grpc-tls-client.ts '{"endpoints":"localhost:PORT","topic":"t","group":"g","count":20}'
 * It sends `count` messages with a Producer, receives and acks them with a SimpleConsumer, and
 * prints one JSON line: {"sent":N,"received":[bodies]} or {"error":"...","log":[last client log lines]} (exit code 1).
 */
import { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';

const { endpoints, topic, group, count } = JSON.parse(process.argv[2]!) as { endpoints: string; topic: string; group: string; count: number };
const lines: string[] = [];
const logger = {
  info() {},
  debug() {},
  close() {},
  warn: (...a: unknown[]) => lines.push(a.map(String).join(' ')),
  error: (...a: unknown[]) => lines.push(a.map(String).join(' ')),
};
// startup() waits without end for the proxy's settings: bound it, so a handshake that fails is an answer.
const bounded = <T>(what: string, p: Promise<T>, ms = 15_000) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms: ${lines.slice(-3).join(' | ')}`)), ms))]);

try {
  const options = { endpoints, namespace: '', sslEnabled: true, logger, requestTimeout: 5_000 };
  const producer = new Producer({ ...options, topics: [topic] });
  await bounded('producer startup', producer.startup());
  for (let i = 0; i < count; i++) await producer.send({ topic, body: Buffer.from(`tls-${i}`), tag: 'tls' });
  const consumer = new SimpleConsumer({ ...options, consumerGroup: group, subscriptions: new Map([[topic, '*']]), awaitDuration: 2_000 });
  await bounded('consumer startup', consumer.startup());
  const received: string[] = [];
  const deadline = Date.now() + 20_000;
  while (received.length < count && Date.now() < deadline) {
    for (const m of await consumer.receive(32, 30_000)) {
      await consumer.ack(m);
      received.push(m.body.toString());
    }
  }
  process.stdout.write(`${JSON.stringify({ sent: count, received })}\n`);
  await Promise.allSettled([producer.shutdown(), consumer.shutdown()]);
  process.exit(0);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: e instanceof Error ? e.message : String(e), log: lines.slice(-5) })}\n`);
  process.exit(1);
}
