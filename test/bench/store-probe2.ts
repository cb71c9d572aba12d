// TEMP probe (deleted before handing back)
import { stampRecord, readRecordShape } from '../../client/src/codec/record';
import { toDispatchRequest } from '../../broker-node/src/store/dispatcher';
import { decodeSendBatch, encodeSendBatch } from '../../client/src/codec/send-batch';
import { prepareMessage } from '../../client/src/producer/prepare-message';
const body = Buffer.alloc(1024, 'x');
const b = decodeSendBatch(encodeSendBatch('bench', 0, Array.from({ length: 32 }, () => prepareMessage({ topic: 'bench', body, tags: 'TagA' }))), 32);
const buf = Buffer.from(b.body);
const N = 200_000;
function time(name: string, f: (i: number) => void) {
  for (let i = 0; i < 20000; i++) f(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) f(i);
  console.log(name.padEnd(20), ((performance.now() - t0) * 1000 / N).toFixed(3), 'us/op');
}
const r = b.records;
const out = Buffer.allocUnsafe(1 << 20);
time('copy', (i) => { const x = r[i & 31]!; buf.copy(out, (i & 31) * 1200, x.pos, x.pos + x.shape.size); });
time('stamp (crc)', (i) => { const x = r[i & 31]!; stampRecord(buf, x.pos, x.shape.size, 0, i, i * 1200, 1700000000000); });
time('readRecordShape', (i) => { const x = r[i & 31]!; readRecordShape(buf, x.pos, buf.length); });
time('toDispatchRequest', (i) => { const x = r[i & 31]!; toDispatchRequest(buf, x.pos, readRecordShape(buf, x.pos, buf.length)!); });
import { decodeProperties } from '../../client/src/codec/properties';
const x0 = r[0]!; const sh = readRecordShape(buf, x0.pos, buf.length)!;
time('props toString', () => { buf.toString('utf8', sh.propertiesStart, sh.propertiesStart + sh.propertiesLength); });
const ps = buf.toString('utf8', sh.propertiesStart, sh.propertiesStart + sh.propertiesLength);
console.log(JSON.stringify(ps), sh.propertiesLength);
time('decodeProperties', () => { decodeProperties(ps); });
time('topic toString', () => { buf.toString('latin1', sh.topicStart, sh.topicStart + sh.topicLength); });
