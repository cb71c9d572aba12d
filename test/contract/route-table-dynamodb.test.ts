import { DeleteTableCommand, DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoDbRouteTable } from '../../functions/nameserver/src/route-table/dynamodb-route-table';
import { ensureTable } from '../../functions/nameserver/src/route-table/ensure-table';
import { motoClientConfig } from '../support/moto';
import { reg, routeTableContract } from './route-table.contract';

const endpoint = inject('motoEndpoint');
/** Unique per run, so runs sharing one moto_server (MOTO_ENDPOINT) never collide. */
const runId = `${process.pid}-${Date.now().toString(36)}`;
let tableCount = 0;

async function newTable(now?: () => number) {
  const tableName = `cirrusmq-ns-test-${runId}-${++tableCount}`;
  const probe = new DynamoDBClient(motoClientConfig(endpoint));
  await ensureTable(probe, tableName, { pollMs: 20 });
  const table = new DynamoDbRouteTable({ client: new DynamoDBClient(motoClientConfig(endpoint)), tableName, now });
  const getItem = (pk: string, sk: string) =>
    probe.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }));
  return {
    table,
    tableName,
    probe,
    getItem,
    itemExists: async (pk: string, sk: string) => (await getItem(pk, sk)).Item !== undefined,
    cleanup: async () => {
      await table.close();
      await probe.send(new DeleteTableCommand({ TableName: tableName }));
      probe.destroy();
    },
  };
}

if (!endpoint) {
  describe.skip('RouteTable contract: dynamodb (skipped: moto_server is not installed)', () => {
    it('needs moto_server', () => {});
  });
} else {
  routeTableContract('dynamodb (moto)', async (now) => {
    const { table, itemExists, cleanup } = await newTable(now);
    return { table, itemExists, cleanup };
  });

  describe('DynamoDbRouteTable on moto', () => {
    let sut: Awaited<ReturnType<typeof newTable>>;
    const t = 1_700_000_000_500;

    beforeAll(async () => {
      sut = await newTable(() => t);
    });
    afterAll(async () => {
      await sut.cleanup();
    });

    it('creates the table with on-demand billing, the inverted gsi1 and TTL on expiresAt; a second ensureTable is a no-op', async () => {
      await ensureTable(sut.probe, sut.tableName, { pollMs: 20 });
      const { Table } = await sut.probe.send(new DescribeTableCommand({ TableName: sut.tableName }));
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.GlobalSecondaryIndexes?.[0]).toMatchObject({
        IndexName: 'gsi1',
        KeySchema: [
          { AttributeName: 'sk', KeyType: 'HASH' },
          { AttributeName: 'pk', KeyType: 'RANGE' },
        ],
      });
      const ttl = await sut.probe.send(new DescribeTimeToLiveCommand({ TableName: sut.tableName }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
    });

    it('writes the broker item with the TTL attribute in epoch seconds, rounded up', async () => {
      await sut.table.registerBroker(reg({ heartbeatTimeoutMs: 1_000, haServerAddr: '127.0.0.1:10912', dataVersion: 3 }));
      const { Item } = await sut.getItem('CLUSTER#c1', 'BROKER#broker-a#0');
      expect(Item).toMatchObject({
        addr: { S: '127.0.0.1:10911' },
        haAddr: { S: '127.0.0.1:10912' },
        lastHeartbeatMs: { N: String(t) },
        dataVersion: { N: '3' },
        expiresAtMs: { N: String(t + 1_000) },
        expiresAt: { N: String(Math.ceil((t + 1_000) / 1000)) },
      });
      expect((await sut.getItem('CLUSTERS', 'CLUSTER#c1')).Item).toBeDefined();
    });

    it('stores a consumer group under GROUP#{group} / CONFIG, consumeFrom as a string or a number', async () => {
      await sut.table.putGroup('billing', { retryMaxTimes: 4 });
      expect((await sut.getItem('GROUP#billing', 'CONFIG')).Item).toMatchObject({
        group: { S: 'billing' },
        retryMaxTimes: { N: '4' },
        orderly: { BOOL: false },
        consumeFrom: { S: 'latest' },
        createdAt: { N: String(t) },
      });
      await sut.table.putGroup('billing', { consumeFrom: 1_700_000_000_000 });
      expect((await sut.getItem('GROUP#billing', 'CONFIG')).Item).toMatchObject({ consumeFrom: { N: '1700000000000' }, retryMaxTimes: { N: '4' } });
    });

    it('stores topic config and topic-on-broker items under TOPIC#', async () => {
      await sut.table.createTopic({ topic: 'orders', queues: 4 });
      expect((await sut.getItem('TOPIC#orders', 'CONFIG')).Item).toMatchObject({ queues: { N: '4' }, createdAt: { N: String(t) } });
      expect((await sut.getItem('TOPIC#orders', 'BROKER#broker-a')).Item).toMatchObject({
        readQueueNums: { N: '4' },
        writeQueueNums: { N: '4' },
        perm: { N: '6' },
        order: { BOOL: false },
        cluster: { S: 'c1' },
      });
    });
  });
}
