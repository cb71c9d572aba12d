/**
 * Creates the NameServer table when it is missing (local runs against LocalStack or moto;
 * in AWS the CDK stack owns it) and waits until it and its index are ACTIVE.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { TableKeys } from './table-schema';

export interface EnsureTableOptions {
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

export async function ensureTable(client: DynamoDBClient, tableName: string, options: EnsureTableOptions = {}): Promise<void> {
  let table = await describe(client, tableName);
  if (!table) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: TableKeys.PK, AttributeType: 'S' },
            { AttributeName: TableKeys.SK, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: TableKeys.PK, KeyType: 'HASH' },
            { AttributeName: TableKeys.SK, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: TableKeys.GSI1,
              KeySchema: [
                { AttributeName: TableKeys.SK, KeyType: 'HASH' },
                { AttributeName: TableKeys.PK, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      );
    } catch (e) {
      // Another process (a second NameServer, a broker) created it first: just wait for it.
      if (!(e instanceof ResourceInUseException)) throw e;
    }
  }
  table = await waitUntilActive(client, tableName, options);
  if (!table.GlobalSecondaryIndexes?.some((g) => g.IndexName === TableKeys.GSI1)) {
    throw new Error(`table ${tableName} exists without the ${TableKeys.GSI1} index the NameServer needs`);
  }
  await ensureTtl(client, tableName);
}

async function ensureTtl(client: DynamoDBClient, tableName: string): Promise<void> {
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  // Enabling twice is an error in real DynamoDB, so only when it is off.
  if (status === 'ENABLED' || status === 'ENABLING') return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TableKeys.TTL, Enabled: true },
    }),
  );
}

async function waitUntilActive(client: DynamoDBClient, tableName: string, options: EnsureTableOptions): Promise<TableDescription> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const t = await describe(client, tableName);
    if (t?.TableStatus === 'ACTIVE' && (t.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')) return t;
    if (Date.now() > deadline) throw new Error(`table ${tableName} is not ACTIVE after ${options.timeoutMs ?? 120_000} ms`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (e) {
    if (e instanceof ResourceNotFoundException) return undefined;
    throw e;
  }
}
