/** Picks the RouteTable backend the config names; the only place that knows both. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { NameServerConfig } from '../config';
import { DynamoDbRouteTable } from './dynamodb-route-table';
import { EmbeddedRouteTable } from './embedded-route-table';
import { ensureTable } from './ensure-table';
import type { Clock, RouteTable } from './route-table';

export interface CreateRouteTableOptions {
  /** Create the DynamoDB table when missing (local runs); in AWS the stack owns it. */
  readonly ensureTable?: boolean;
  readonly now?: Clock;
}

export async function createRouteTable(config: NameServerConfig, options: CreateRouteTableOptions = {}): Promise<RouteTable> {
  if (config.backend === 'embedded') {
    return EmbeddedRouteTable.open({
      dataDir: config.dataDir,
      sweepIntervalMs: config.sweepIntervalMs,
      defaultBrokerExpiryMs: config.brokerExpiryMs,
      now: options.now,
    });
  }
  const client = dynamoClient(config);
  if (options.ensureTable) {
    try {
      await ensureTable(client, config.tableName);
    } catch (e) {
      client.destroy();
      throw e;
    }
  }
  return new DynamoDbRouteTable({ client, tableName: config.tableName, defaultBrokerExpiryMs: config.brokerExpiryMs, now: options.now });
}

export function dynamoClient(config: NameServerConfig): DynamoDBClient {
  return new DynamoDBClient({
    region: config.aws.region,
    endpoint: config.aws.endpoint,
    credentials: config.aws.credentials,
  });
}
