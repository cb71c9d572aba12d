import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedRouteTable } from '../../functions/nameserver/src/route-table/embedded-route-table';
import { reg, routeTableContract } from './route-table.contract';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

routeTableContract('embedded', async (now) => {
  const dataDir = await tempDir();
  // The sweep never runs within a test here, so expired entries stay to be observed.
  const table = await EmbeddedRouteTable.open({ dataDir, now, sweepIntervalMs: 3_600_000 });
  return {
    table,
    itemExists: async (pk, sk) => {
      const cluster = /^CLUSTER#(.+)$/.exec(pk)?.[1];
      const broker = /^BROKER#(.+)#(\d+)$/.exec(sk);
      if (!cluster || !broker) throw new Error(`embedded itemExists only knows broker items, not ${pk} ${sk}`);
      return table.hasBrokerEntry(cluster, broker[1]!, Number(broker[2]));
    },
    cleanup: () => table.close(),
  };
});

describe('EmbeddedRouteTable', () => {
  it('keeps topic config across a reopen of the same data dir, and brokers not', async () => {
    const dataDir = await tempDir();
    const first = await EmbeddedRouteTable.open({ dataDir });
    await first.registerBroker(reg());
    await first.createTopic({ topic: 'orders', queues: 4 });
    await first.createTopic({ topic: 'gone', queues: 1 });
    await first.deleteTopic('gone');
    await first.close();

    const second = await EmbeddedRouteTable.open({ dataDir });
    try {
      expect((await second.listTopics()).map((t) => [t.topic, t.queues, t.brokers.map((b) => b.brokerName)])).toEqual([['orders', 4, ['broker-a']]]);
      expect(await second.listBrokers()).toEqual([]);
      expect((await second.getTopicRoute('orders'))?.queueDatas).toEqual([]);
      expect((await second.registerBroker(reg())).topics.map((t) => t.topic)).toEqual(['orders']);
      expect((await second.getTopicRoute('orders'))?.queueDatas).toHaveLength(1);
      // Only the renamed file remains: no temp files left behind.
      expect(await readdir(path.join(dataDir, 'nameserver'))).toEqual(['topics.json']);
    } finally {
      await second.close();
    }
  });

  it('keeps consumer groups across a reopen, with their createdAt, and forgets deleted ones', async () => {
    const dataDir = await tempDir();
    let t = 1_000;
    const first = await EmbeddedRouteTable.open({ dataDir, now: () => t });
    await first.putGroup('billing', { retryMaxTimes: 3, consumeFrom: 12_345 });
    t = 2_000;
    await first.ensureGroup('audit');
    await first.ensureGroup('gone');
    await first.deleteGroup('gone');
    await first.close();

    const second = await EmbeddedRouteTable.open({ dataDir, now: () => 9_999 });
    try {
      expect(await second.listGroups()).toEqual([
        { group: 'audit', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest', createdAt: 2_000 },
        { group: 'billing', retryMaxTimes: 3, orderly: false, consumeFrom: 12_345, createdAt: 1_000 },
      ]);
      expect((await second.ensureGroup('billing')).createdAt).toBe(1_000);
      expect((await readdir(path.join(dataDir, 'nameserver'))).sort()).toEqual(['groups.json']);
    } finally {
      await second.close();
    }
  });

  it('refuses to start on a corrupt group file, naming it', async () => {
    const dataDir = await tempDir();
    await mkdir(path.join(dataDir, 'nameserver'));
    await writeFile(path.join(dataDir, 'nameserver', 'groups.json'), '{"version":1,"groups":');
    await expect(EmbeddedRouteTable.open({ dataDir })).rejects.toThrow(/groups\.json is not valid JSON/);
  });

  it('refuses to start on a corrupt topic file, naming it', async () => {
    const dataDir = await tempDir();
    await mkdir(path.join(dataDir, 'nameserver'));
    await writeFile(path.join(dataDir, 'nameserver', 'topics.json'), '{"version":1,"topics":[');
    await expect(EmbeddedRouteTable.open({ dataDir })).rejects.toThrow(/topics\.json is not valid JSON/);
  });

  it('sweeps expired brokers actively, on its own timer', async () => {
    let t = 1_000_000;
    const table = await EmbeddedRouteTable.open({ dataDir: await tempDir(), now: () => t, sweepIntervalMs: 5 });
    try {
      await table.registerBroker(reg({ heartbeatTimeoutMs: 100 }));
      await table.registerBroker(reg({ brokerName: 'broker-b', heartbeatTimeoutMs: 1_000 }));
      await new Promise((r) => setTimeout(r, 20));
      expect(table.hasBrokerEntry('c1', 'broker-a', 0)).toBe(true);
      t += 100;
      await vi.waitFor(() => expect(table.hasBrokerEntry('c1', 'broker-a', 0)).toBe(false), { timeout: 20_000, interval: 5 }); // the sweep's timer is real
      expect((await table.listBrokers()).map((b) => b.brokerName)).toEqual(['broker-b']);
    } finally {
      await table.close();
    }
  });

  it('scanNotActiveBroker deletes only expired brokers', async () => {
    let t = 1_000_000;
    const table = await EmbeddedRouteTable.open({ dataDir: await tempDir(), now: () => t, sweepIntervalMs: 3_600_000 });
    try {
      await table.registerBroker(reg({ heartbeatTimeoutMs: 100 }));
      await table.registerBroker(reg({ brokerName: 'broker-b', heartbeatTimeoutMs: 1_000 }));
      expect(table.scanNotActiveBroker()).toBe(0);
      t += 100;
      expect(table.scanNotActiveBroker()).toBe(1);
      expect(table.hasBrokerEntry('c1', 'broker-a', 0)).toBe(false);
      expect(table.hasBrokerEntry('c1', 'broker-b', 0)).toBe(true);
    } finally {
      await table.close();
    }
  });

  it('stops its sweep timer on close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      let t = 1_000_000;
      const table = await EmbeddedRouteTable.open({ dataDir: await tempDir(), now: () => t, sweepIntervalMs: 10 });
      await table.registerBroker(reg({ heartbeatTimeoutMs: 5 }));
      expect(vi.getTimerCount()).toBe(1);
      await table.close();
      expect(vi.getTimerCount()).toBe(0);
      t += 100;
      vi.advanceTimersByTime(100);
      expect(table.hasBrokerEntry('c1', 'broker-a', 0)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
