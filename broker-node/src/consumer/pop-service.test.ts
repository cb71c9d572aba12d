import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import { FakeNameServer } from '../testing/fake-nameserver';
import { makeBatch, removeDir, tempDir } from '../testing/fixtures';
import { InMemoryGroups } from '../testing/pop-fixture';
import { TopicConfigManager } from '../topic-config-manager';
import { DeadLetterService } from './dead-letter';
import { PopService } from './pop-service';
import { ReceiptHandleCodec } from './receipt-handle';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function service(maxLeases: number) {
  const dir = tempDir();
  const store = new DefaultMessageStore(
    { storeDir: dir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 100 },
    silentLogger,
  ).load();
  const ns = new FakeNameServer();
  ns.addTopic('T', 2);
  const pop = new PopService({
    brokerName: 'broker-a',
    store,
    topicConfigManager: new TopicConfigManager('broker-a', ns),
    groups: new InMemoryGroups(),
    codec: new ReceiptHandleCodec(Buffer.alloc(32, 7), 'broker-a'),
    deadLetter: new DeadLetterService(store, silentLogger),
    logger: silentLogger,
    maxLeases,
  });
  cleanup.push(async () => {
    pop.shutdown();
    await store.shutdown();
    removeDir(dir);
  });
  return { store, pop };
}

describe('PopService', () => {
  it('stops leasing new messages at the broker-wide bound, and goes on as acks come in', async () => {
    const { store, pop } = await service(3);
    for (let i = 0; i < 6; i++) await store.putMessages(makeBatch('T', i % 2, [`m${i}`]));
    const req = { topic: 'T', group: 'g', max: 32, invisibleMs: 60_000, waitMs: 0 };
    const first = await pop.pop(req);
    expect(first.messages).toHaveLength(3);
    expect((await pop.pop(req)).messages).toHaveLength(0);
    await pop.ack({ topic: 'T', group: 'g', receiptHandles: [first.messages[0]!.receiptHandle] });
    expect((await pop.pop(req)).messages).toHaveLength(1);
    expect(pop.table.size).toBe(3);
  });
});
