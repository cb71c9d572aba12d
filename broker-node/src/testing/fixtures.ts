/** Test helpers: send batches built the way a producer builds them, and temp store dirs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSendBatch, encodeProperties, encodeSendBatch, MessageConst, type PreparedMessage, type SendBatch } from '@cirrusmq/client/protocol';

export interface TestMessage {
  body: string | Buffer;
  tags?: string;
  keys?: string[];
}

let seq = 0;

export function prepare(m: TestMessage | string): PreparedMessage {
  const msg = typeof m === 'string' ? { body: m } : m;
  const messageId = `TESTID${String(++seq).padStart(10, '0')}`;
  const props: Record<string, string> = { [MessageConst.UNIQ_KEY]: messageId };
  if (msg.tags) props[MessageConst.TAGS] = msg.tags;
  if (msg.keys) props[MessageConst.KEYS] = msg.keys.join(' ');
  const properties = encodeProperties(props);
  return {
    messageId,
    body: typeof msg.body === 'string' ? Buffer.from(msg.body) : msg.body,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    properties,
    propertiesLength: Buffer.byteLength(properties),
  };
}

export function sendBody(topic: string, queueId: number, messages: (TestMessage | string)[]): Buffer {
  return encodeSendBatch(topic, queueId, messages.map(prepare));
}

export function makeBatch(topic: string, queueId: number, messages: (TestMessage | string)[]): SendBatch {
  return decodeSendBatch(sendBody(topic, queueId, messages), 10_000);
}

export function tempDir(prefix = 'cirrusmq-broker-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
