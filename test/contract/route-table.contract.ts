/**
 * The one behaviour every RouteTable must have (Hono's router-test pattern): each store
 * calls routeTableContract() from its own *.test.ts. Time is the injected clock, so expiry
 * is tested by moving `t`, not by sleeping.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerRegistration } from '@cirrusmq/client/protocol';
import type { RouteTable } from '../../functions/nameserver/src/route-table/route-table';

export interface RouteTableSubject {
  table: RouteTable;
  /** Whether the store still holds the raw item, expired or not (pk/sk as in docs/architecture.md, "The NameServer table"). */
  itemExists?: (pk: string, sk: string) => Promise<boolean>;
  cleanup: () => Promise<void>;
}

export type RouteTableFactory = (now: () => number) => Promise<RouteTableSubject>;

const T0 = 1_700_000_000_000;
const TIMEOUT = 10_000;

export function reg(over: Partial<BrokerRegistration> = {}): BrokerRegistration {
  return {
    clusterName: 'c1',
    brokerName: 'broker-a',
    brokerId: 0,
    brokerAddr: '127.0.0.1:10911',
    startedAt: T0 - 1000,
    heartbeatTimeoutMs: TIMEOUT,
    ...over,
  };
}

const brokerB = { brokerName: 'broker-b', brokerAddr: '127.0.0.1:10921' };

export function routeTableContract(name: string, factory: RouteTableFactory): void {
  describe(`RouteTable contract: ${name}`, () => {
    let t = T0;
    /** When set, every read of the clock moves it 1 ms on: racing writers see different times. */
    let tickOnRead = false;
    const now = () => (tickOnRead ? t++ : t);
    let subject: RouteTableSubject;
    let table: RouteTable;

    beforeEach(async () => {
      t = T0;
      tickOnRead = false;
      subject = await factory(now);
      table = subject.table;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('routes a topic to the broker it was created on', async () => {
      await table.registerBroker(reg());
      expect(await table.getTopicRoute('orders')).toBeUndefined();

      const res = await table.createTopic({ topic: 'orders', queues: 4 });
      expect(res.created).toBe(true);
      expect(res.topic).toEqual({
        topic: 'orders',
        queues: 4,
        createdAt: T0,
        brokers: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
      });
      expect(await table.getTopicRoute('orders')).toEqual({
        topic: 'orders',
        queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
        brokerDatas: [{ cluster: 'c1', brokerName: 'broker-a', brokerAddrs: { '0': '127.0.0.1:10911' } }],
        filterServerTable: {},
      });
    });

    it('lists a slave beside its master in brokerAddrs, and sorts brokers by name', async () => {
      await table.registerBroker(reg(brokerB));
      await table.registerBroker(reg());
      await table.registerBroker(reg({ brokerId: 1, brokerAddr: '127.0.0.1:10912' }));
      await table.createTopic({ topic: 'orders', queues: 2 });
      const route = await table.getTopicRoute('orders');
      expect(route?.queueDatas.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-b']);
      expect(route?.brokerDatas).toEqual([
        { cluster: 'c1', brokerName: 'broker-a', brokerAddrs: { '0': '127.0.0.1:10911', '1': '127.0.0.1:10912' } },
        { cluster: 'c1', brokerName: 'broker-b', brokerAddrs: { '0': '127.0.0.1:10921' } },
      ]);
    });

    it('uses the default expiry when a registration names none', async () => {
      const res = await table.registerBroker(reg({ heartbeatTimeoutMs: undefined }));
      expect(res.expiresAtMs).toBe(T0 + 120_000);
    });

    it('extends the expiry with each heartbeat', async () => {
      expect((await table.registerBroker(reg())).expiresAtMs).toBe(T0 + TIMEOUT);
      await table.createTopic({ topic: 'orders', queues: 1 });
      t += 8_000;
      expect((await table.registerBroker(reg())).expiresAtMs).toBe(t + TIMEOUT);
      t += 8_000; // 16 s after the first registration, 8 s after the heartbeat
      expect((await table.getTopicRoute('orders'))?.queueDatas).toHaveLength(1);
      const [info] = await table.listBrokers();
      expect(info).toMatchObject({ alive: true, lastHeartbeatMs: T0 + 8_000, expiresAtMs: T0 + 8_000 + TIMEOUT });
    });

    it('drops a silent broker from routes and from the live set once it expires, while its item remains', async () => {
      await table.registerBroker(reg());
      await table.registerBroker(reg(brokerB));
      await table.createTopic({ topic: 'orders', queues: 2 });
      t += 5_000;
      await table.registerBroker(reg(brokerB)); // only b keeps heartbeating
      t = T0 + TIMEOUT; // a's deadline: not alive at exactly expiresAtMs

      const route = await table.getTopicRoute('orders');
      expect(route?.queueDatas.map((q) => q.brokerName)).toEqual(['broker-b']);
      expect(route?.brokerDatas.map((b) => b.brokerName)).toEqual(['broker-b']);
      if (subject.itemExists) expect(await subject.itemExists('CLUSTER#c1', 'BROKER#broker-a#0')).toBe(true);

      const created = await table.createTopic({ topic: 'payments', queues: 2 });
      expect(created.topic.brokers.map((q) => q.brokerName)).toEqual(['broker-b']);

      t = T0 + 5_000 + TIMEOUT; // b is silent too now
      expect(await table.getTopicRoute('orders')).toMatchObject({ queueDatas: [], brokerDatas: [] });
      await expect(table.createTopic({ topic: 'refunds', queues: 2 })).rejects.toMatchObject({ code: 'NO_LIVE_BROKER', status: 503 });
    });

    it('brings a topic back when its broker registers again (topic config is durable)', async () => {
      await table.registerBroker(reg());
      await table.createTopic({ topic: 'orders', queues: 3 });
      t += TIMEOUT + 1;
      expect((await table.getTopicRoute('orders'))?.queueDatas).toEqual([]);
      const res = await table.registerBroker(reg());
      expect(res.topics).toEqual([{ topic: 'orders', readQueueNums: 3, writeQueueNums: 3, perm: 6, order: false }]);
      expect((await table.getTopicRoute('orders'))?.queueDatas).toHaveLength(1);
    });

    it('reports an expired but present broker as alive:false', async () => {
      await table.registerBroker(reg());
      await table.registerBroker(reg(brokerB));
      t += 5_000;
      await table.registerBroker(reg(brokerB));
      t = T0 + TIMEOUT + 1;
      expect(await table.listBrokers()).toEqual([
        {
          cluster: 'c1',
          brokerName: 'broker-a',
          brokerId: 0,
          addr: '127.0.0.1:10911',
          lastHeartbeatMs: T0,
          startedAt: T0 - 1000,
          expiresAtMs: T0 + TIMEOUT,
          alive: false,
        },
        expect.objectContaining({ brokerName: 'broker-b', alive: true, lastHeartbeatMs: T0 + 5_000 }),
      ]);
    });

    it('forgets an unregistered broker', async () => {
      await table.registerBroker(reg());
      await table.createTopic({ topic: 'orders', queues: 1 });
      await table.unregisterBroker('c1', 'broker-a', 0);
      expect(await table.listBrokers()).toEqual([]);
      expect((await table.getTopicRoute('orders'))?.queueDatas).toEqual([]);
      if (subject.itemExists) expect(await subject.itemExists('CLUSTER#c1', 'BROKER#broker-a#0')).toBe(false);
      await table.unregisterBroker('c1', 'broker-a', 0); // idempotent
    });

    it('creates a topic once: same queues again is not new, other queues conflict', async () => {
      await expect(table.createTopic({ topic: 'orders', queues: 4 })).rejects.toMatchObject({ code: 'NO_LIVE_BROKER' });
      await table.registerBroker(reg());
      expect((await table.createTopic({ topic: 'orders', queues: 4 })).created).toBe(true);

      t += 1_000;
      const again = await table.createTopic({ topic: 'orders', queues: 4 });
      expect(again.created).toBe(false);
      expect(again.topic.createdAt).toBe(T0);

      await expect(table.createTopic({ topic: 'orders', queues: 8 })).rejects.toMatchObject({ code: 'TOPIC_EXISTS', status: 409 });
    });

    it('adds an existing topic to masters that joined since, but never to a slave', async () => {
      await table.registerBroker(reg());
      await table.createTopic({ topic: 'orders', queues: 4 });
      await table.registerBroker(reg(brokerB));
      await table.registerBroker(reg({ brokerName: 'broker-c', brokerId: 1, brokerAddr: '127.0.0.1:10932' }));
      const again = await table.createTopic({ topic: 'orders', queues: 4 });
      expect(again.created).toBe(false);
      expect(again.topic.brokers.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-b']);
      expect((await table.getTopic('orders'))?.brokers.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-b']);
    });

    it('refuses a new topic when only slaves are alive', async () => {
      await table.registerBroker(reg({ brokerId: 1 }));
      await expect(table.createTopic({ topic: 'orders', queues: 1 })).rejects.toMatchObject({ code: 'NO_LIVE_BROKER' });
    });

    it('describes, lists and deletes topics', async () => {
      await table.registerBroker(reg());
      expect(await table.getTopic('orders')).toBeUndefined();
      expect(await table.listTopics()).toEqual([]);
      await table.createTopic({ topic: 'orders', queues: 2 });
      t += 1;
      await table.createTopic({ topic: 'audit', queues: 1 });

      expect(await table.getTopic('orders')).toEqual({
        topic: 'orders',
        queues: 2,
        createdAt: T0,
        brokers: [{ brokerName: 'broker-a', readQueueNums: 2, writeQueueNums: 2, perm: 6 }],
      });
      expect((await table.listTopics()).map((x) => [x.topic, x.queues, x.createdAt])).toEqual([
        ['audit', 1, T0 + 1],
        ['orders', 2, T0],
      ]);

      expect(await table.deleteTopic('orders')).toBe(true);
      expect(await table.deleteTopic('orders')).toBe(false);
      expect(await table.getTopic('orders')).toBeUndefined();
      expect(await table.getTopicRoute('orders')).toBeUndefined();
      expect((await table.listTopics()).map((x) => x.topic)).toEqual(['audit']);
      expect((await table.registerBroker(reg())).topics.map((x) => x.topic)).toEqual(['audit']);

      // Re-created with another queue count: nothing of the old topic is left to conflict.
      const re = await table.createTopic({ topic: 'orders', queues: 5 });
      expect(re.created).toBe(true);
      expect(re.topic.brokers).toEqual([{ brokerName: 'broker-a', readQueueNums: 5, writeQueueNums: 5, perm: 6 }]);
    });

    it("answers a broker's topics when it registers, and only its own", async () => {
      await table.registerBroker(reg());
      await table.registerBroker(reg({ clusterName: 'c2', brokerName: 'broker-x', brokerAddr: '127.0.0.1:10941' }));
      expect((await table.registerBroker(reg())).topics).toEqual([]);
      await table.createTopic({ topic: 'orders', queues: 4 });
      await table.createTopic({ topic: 'audit', queues: 2, cluster: 'c1' });
      await table.createTopic({ topic: 'elsewhere', queues: 1, cluster: 'c2' });

      expect((await table.registerBroker(reg())).topics).toEqual([
        { topic: 'audit', readQueueNums: 2, writeQueueNums: 2, perm: 6, order: false },
        { topic: 'orders', readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false },
      ]);
      // A slave of the same brokerName serves the same topics.
      expect((await table.registerBroker(reg({ brokerId: 1, brokerAddr: '127.0.0.1:10912' }))).topics.map((x) => x.topic)).toEqual(['audit', 'orders']);
    });

    it('keeps two clusters apart', async () => {
      await table.registerBroker(reg());
      await table.registerBroker(reg({ clusterName: 'c2', brokerName: 'broker-x', brokerAddr: '127.0.0.1:10941' }));

      const onlyC2 = await table.createTopic({ topic: 'c2-only', queues: 2, cluster: 'c2' });
      expect(onlyC2.topic.brokers.map((q) => q.brokerName)).toEqual(['broker-x']);
      expect((await table.getTopicRoute('c2-only'))?.brokerDatas).toEqual([{ cluster: 'c2', brokerName: 'broker-x', brokerAddrs: { '0': '127.0.0.1:10941' } }]);

      const everywhere = await table.createTopic({ topic: 'everywhere', queues: 2 });
      expect(everywhere.topic.brokers.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-x']);
      expect((await table.getTopicRoute('everywhere'))?.brokerDatas.map((b) => [b.cluster, b.brokerName])).toEqual([
        ['c1', 'broker-a'],
        ['c2', 'broker-x'],
      ]);

      await expect(table.createTopic({ topic: 'nowhere', queues: 1, cluster: 'c3' })).rejects.toMatchObject({ code: 'NO_LIVE_BROKER' });
      expect((await table.listBrokers()).map((b) => [b.cluster, b.brokerName, b.alive])).toEqual([
        ['c1', 'broker-a', true],
        ['c2', 'broker-x', true],
      ]);
    });

    describe('consumer groups', () => {
      it('creates a group with the defaults, or the fields given; gets it; not found before', async () => {
        expect(await table.getGroup('billing')).toBeUndefined();
        const res = await table.putGroup('billing', {});
        expect(res).toEqual({
          created: true,
          group: { group: 'billing', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest', createdAt: T0 },
        });
        expect(await table.getGroup('billing')).toEqual(res.group);

        t += 5;
        const custom = await table.putGroup('audit', { retryMaxTimes: 0, orderly: true, consumeFrom: 1_700_000_000_123 });
        expect(custom).toEqual({
          created: true,
          group: { group: 'audit', retryMaxTimes: 0, orderly: true, consumeFrom: 1_700_000_000_123, createdAt: T0 + 5 },
        });
        // A numeric consumeFrom comes back a number, a named one a string.
        expect(await table.getGroup('audit')).toEqual(custom.group);
        expect(await table.getGroup('nobody')).toBeUndefined();
      });

      it('updates only the fields given and keeps createdAt', async () => {
        await table.putGroup('billing', { retryMaxTimes: 3 });
        t += 1_000;
        const up = await table.putGroup('billing', { orderly: true });
        expect(up).toEqual({
          created: false,
          group: { group: 'billing', retryMaxTimes: 3, orderly: true, consumeFrom: 'latest', createdAt: T0 },
        });
        const again = await table.putGroup('billing', { consumeFrom: 'earliest', retryMaxTimes: 64 });
        expect(again.group).toEqual({ group: 'billing', retryMaxTimes: 64, orderly: true, consumeFrom: 'earliest', createdAt: T0 });
        const none = await table.putGroup('billing', {});
        expect(none).toEqual({ created: false, group: again.group });
        expect(await table.getGroup('billing')).toEqual(again.group);
      });

      it('ensure creates once with the defaults and then answers the stored config', async () => {
        const first = await table.ensureGroup('billing');
        expect(first).toEqual({ group: 'billing', retryMaxTimes: 16, orderly: false, consumeFrom: 'latest', createdAt: T0 });
        t += 1_000;
        expect(await table.ensureGroup('billing')).toEqual(first);
        await table.putGroup('billing', { retryMaxTimes: 2 });
        expect(await table.ensureGroup('billing')).toEqual({ ...first, retryMaxTimes: 2 });
      });

      it('concurrent ensures agree on one config (one createdAt)', async () => {
        // Every clock read is another time: a store that created twice would answer different createdAts.
        tickOnRead = true;
        const results = await Promise.all(Array.from({ length: 8 }, () => table.ensureGroup('racy')));
        tickOnRead = false;
        const createdAts = new Set(results.map((r) => r.createdAt));
        expect(createdAts.size).toBe(1);
        expect(await table.getGroup('racy')).toEqual(results[0]);
      });

      it('lists groups sorted by name, apart from topics, and deletes them', async () => {
        expect(await table.listGroups()).toEqual([]);
        await table.registerBroker(reg());
        await table.createTopic({ topic: 'orders', queues: 1 });
        await table.putGroup('zeta', {});
        await table.ensureGroup('alpha');
        await table.putGroup('mid', { orderly: true });
        expect((await table.listGroups()).map((g) => [g.group, g.orderly])).toEqual([
          ['alpha', false],
          ['mid', true],
          ['zeta', false],
        ]);
        expect((await table.listTopics()).map((x) => x.topic)).toEqual(['orders']);

        expect(await table.deleteGroup('mid')).toBe(true);
        expect(await table.deleteGroup('mid')).toBe(false);
        expect(await table.getGroup('mid')).toBeUndefined();
        expect((await table.listGroups()).map((g) => g.group)).toEqual(['alpha', 'zeta']);

        // Created again after a delete: a new group, with a new createdAt.
        t += 7;
        const re = await table.putGroup('mid', {});
        expect(re).toMatchObject({ created: true, group: { orderly: false, createdAt: T0 + 7 } });
      });
    });
  });
}
