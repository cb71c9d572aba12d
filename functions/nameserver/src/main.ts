/**
 * The NameServer as a local process (`npm start`, tests, development):
 *   node --import tsx functions/nameserver/src/main.ts
 * Same app as the Lambda, served by @hono/node-server. With the dynamodb backend the table
 * is created first when missing, so an emulator needs no setup.
 */
import path from 'node:path';
import { serve } from '@hono/node-server';
import { CirrusError, createLogger } from '@cirrusmq/client/protocol';
import { exitWithHelpIfAsked, FolderLock } from '@cirrusmq/client/server';
import { createNameServerApp } from './app';
import { loadConfig, nameServerHelp } from './config';
import { createRouteTable } from './route-table/create-route-table';
import { topicFilePath } from './route-table/topic-file';

exitWithHelpIfAsked(nameServerHelp());

const config = loadConfig();
const logger = createLogger({ service: 'nameserver' }, config.logLevel);
// The embedded topic file has one writer: a second NameServer on the folder would load it,
// then overwrite the first one's topics with its own snapshot.
const dataLock = config.backend === 'embedded' ? await lockDataFolder(path.dirname(topicFilePath(config.dataDir))) : undefined;
const routeTable = await createRouteTable(config, { ensureTable: true });
const app = createNameServerApp(routeTable, logger);

const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
  logger.info('nameserver listening', { host: config.host, port: info.port, backend: config.backend });
});
server.on('error', (err) => {
  logger.error('nameserver server error', { err });
  process.exit(1);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info('nameserver stopping', { signal });
  // Idle keep-alive sockets would hold close() open; a stuck request must not block exit.
  const force = setTimeout(() => process.exit(0), 5_000);
  force.unref();
  try {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await routeTable.close();
    await dataLock?.release();
  } catch (err) {
    logger.error('nameserver shutdown failed', { err });
  }
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Started by the launcher with an IPC channel: it closes when the launcher dies, even by SIGKILL.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => void shutdown('launcher gone'));
}

async function lockDataFolder(dir: string): Promise<FolderLock> {
  try {
    return await FolderLock.acquire(dir, { owner: 'nameserver' });
  } catch (err) {
    if (err instanceof CirrusError && err.code === 'STORE_LOCKED') {
      logger.error('data folder is locked by another process, not starting', { code: err.code, detail: err.message, ...err.details });
    } else {
      logger.error('cannot lock the data folder', { err, dir });
    }
    process.exit(1);
  }
}
