/**
 * npx tsx --conditions=cirrusmq-source test/bench/receive-answer-cost.ts [rounds]
 *
 * CPU per message of the two forms of the gateway's receive answer, in one process, without
 * the network (a busy machine moves this much less than a throughput figure): the gateway's
 * side (split the brokers' POP answer, write the answer) and the consumer's (read it into
 * MessageViews), for a batch of 32 1 KB messages as bench:consume stores them.
 */
import { decodePopParts, encodePopResult, encodeProperties, encodeRecord, type ReceivedMessageJson, recordSize, stampRecord } from '@cirrusmq/client/protocol';
import { splitPopResult } from '../../functions/gateway/src/pop-records';
import { receiveAnswer } from '../../functions/gateway/src/receive-answer';
import { popPartsAnswer } from '../../functions/gateway/src/receive-parts';

const rounds = Number(process.argv[2] ?? 20_000);
const BATCH = 32;
const body = Buffer.alloc(1024, 'cirrusmq-benchmark-payload-');
const records = Array.from({ length: BATCH }, (_, i) => {
  const properties = encodeProperties({ TAGS: 'TagA', UNIQ_CLIENT_MESSAGE_ID_KEYIDX: `7F000001000018B4AAC2${String(i).padStart(12, '0')}` });
  const size = recordSize(body.length, 'bench'.length, Buffer.byteLength(properties));
  const buf = Buffer.alloc(size);
  encodeRecord(buf, 0, { queueId: i % 4, sysFlag: 0, bornTimestamp: 1_764_524_000_000 + i, reconsumeTimes: 0, body, topic: 'bench', properties });
  stampRecord(buf, 0, size, i % 4, 100_000 + i, 5000 * i, 1_764_524_000_500 + i);
  return buf;
});
const pop = encodePopResult(
  {
    messages: records.map((_, i) => ({
      receiptHandle: `v2.broker-a.${'Ab9_'.repeat(24)}${i}`,
      deliveryAttempt: 1,
      queueId: i % 4,
      queueOffset: 100_000 + i,
    })),
  },
  records,
);

function measure(name: string, f: () => unknown): void {
  for (let i = 0; i < 2000; i++) f();
  const t0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) f();
  const u = process.cpuUsage(t0);
  console.log(`${name.padEnd(44)} ${((u.user + u.system) / rounds / BATCH).toFixed(3)} µs CPU/msg`);
}

const json = receiveAnswer(splitPopResult(pop, 'broker-a'), 6_000_000).body;
const parts = Buffer.concat(popPartsAnswer(splitPopResult(pop, 'broker-a'), 6_000_000).parts);
console.log(`answer bytes: JSON ${json.length}, POP_PARTS ${parts.length}; load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2))}`);
measure('gateway: split + JSON answer', () => receiveAnswer(splitPopResult(pop, 'broker-a'), 6_000_000));
measure('gateway: split (no CRC) + POP_PARTS answer', () => popPartsAnswer(splitPopResult(pop, 'broker-a', false), 6_000_000));
// What the SDK's messageViewFromJson does per message (client/src/consumer/message-view.ts).
const viewOf = (m: ReceivedMessageJson) => ({
  messageId: m.messageId,
  topic: 'bench',
  body: Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8'),
  tags: m.tags,
  keys: m.keys ?? [],
  properties: m.properties ?? {},
  brokerName: m.broker,
  queueId: m.queueId,
  queueOffset: m.queueOffset,
  bornTimestamp: m.bornTimestamp,
  storeTimestamp: m.storeTimestamp,
  deliveryAttempt: m.deliveryAttempt,
  receiptHandle: m.receiptHandle,
});
measure('consumer: JSON.parse + MessageView', () => (JSON.parse(json.toString('utf8')) as { messages: ReceivedMessageJson[] }).messages.map(viewOf));
measure('consumer: decodePopParts', () => decodePopParts(parts));
