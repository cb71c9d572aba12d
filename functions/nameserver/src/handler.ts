/**
 * The NameServer as a Lambda function. The route table (and its DynamoDB client) is made
 * once per container, at cold start, and reused by every invocation. It is awaited inside
 * the handler rather than with a top-level await, so the bundle works as CJS or ESM.
 */
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { createLogger } from '@cirrusmq/client/protocol';
import { createNameServerApp } from './app';
import { loadConfig } from './config';
import { createRouteTable } from './route-table/create-route-table';

const config = loadConfig();
const logger = createLogger({ service: 'nameserver' }, config.logLevel);
const ready = createRouteTable(config).then((routeTable) => handle(createNameServerApp(routeTable, logger)));
// Reported by the first invocation that awaits it, not as an unhandled rejection at init.
ready.catch(() => {});

export async function handler(event: LambdaEvent, context?: LambdaContext) {
  return (await ready)(event, context);
}
