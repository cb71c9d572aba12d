// TEMP probe (deleted before handing back)
import fs from 'node:fs';
import { CommitLog } from '../../broker-node/src/store/commit-log';
import { DefaultMessageStore } from '../../broker-node/src/store/message-store';
import { decodeSendBatch, encodeSendBatch } from '../../client/src/codec/send-batch';
import { silentLogger } from '../../client/src/logger';
import { prepareMessage } from '../../client/src/producer/prepare-message';
const body = Buffer.alloc(1024, 'x');
const batches = Array.from({ length: 8 }, (_, q) => decodeSendBatch(encodeSendBatch('bench', q, Array.from({ length: 32 }, () => prepareMessage({ topic: 'bench', body, tags: 'TagA' }))), 32));
const PUTS = 7000;
const mode = process.argv[2];
const dir = fs.mkdtempSync('/tmp/mb/probe-');
let t0 = 0;
if (mode === 'commitlog') {
  const log = new CommitLog(dir, 1 << 30, silentLogger, { preallocate: false });
  log.load(); log.recover();
  t0 = performance.now();
  for (let p = 0; p < PUTS; p++) log.putMessages(batches[p % 8]!, p * 32, Date.now());
  log.shutdown();
} else {
  const store = new DefaultMessageStore({ storeDir: dir, commitLogSegmentBytes: 1 << 30, consumeQueueUnitsPerFile: 300000, flushIntervalMs: 500, preallocateSegments: false }, silentLogger).load();
  t0 = performance.now();
  for (let p = 0; p < PUTS; p++) await store.putMessages(batches[p % 8]!);
  await store.shutdown();
}
const s = (performance.now() - t0) / 1000;
console.log(mode, (PUTS * 32 / s / 1000).toFixed(0), 'k msg/s', (PUTS * 32 * 1169 / 1048576 / s).toFixed(0), 'MB/s');
fs.rmSync(dir, { recursive: true, force: true });
