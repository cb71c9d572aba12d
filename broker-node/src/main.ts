/**
 * The broker process: `node --import tsx broker-node/src/main.ts`. Settings come from the
 * environment (config.ts); logs are JSON lines on stdout. SIGTERM/SIGINT stop it cleanly
 * (refuse sends, flush, unregister, close) and exit 0; a second signal exits at once.
 */
import { CirrusError, createLogger } from '@cirrusmq/client/protocol';
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { BrokerController } from './broker-controller';
import { brokerHelp, loadBrokerConfig } from './config';

exitWithHelpIfAsked(brokerHelp());

async function main(): Promise<void> {
  let config;
  try {
    config = loadBrokerConfig();
  } catch (e) {
    createLogger({ service: 'broker' }).error('invalid configuration', { err: e, detail: (e as Error).message });
    process.exit(1);
  }
  const logger = createLogger({ service: 'broker', brokerName: config.brokerName }, config.logLevel);
  const controller = new BrokerController(config, { logger });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn('second signal, exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('signal received', { signal });
    controller.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Started by the launcher with an IPC channel: it closes when the launcher dies, even by SIGKILL.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => {
      if (!stopping) stop('launcher gone');
    });
  }

  try {
    await controller.start();
  } catch (err) {
    if (err instanceof CirrusError && err.code === 'STORE_LOCKED') {
      // Nothing was read or changed: say who holds the folder and leave it to them.
      logger.error('store folder is locked by another process, not starting', { code: err.code, detail: err.message, ...err.details });
    } else {
      logger.error('broker failed to start', { err, stack: err instanceof Error ? err.stack : undefined });
    }
    await controller.shutdown().catch(() => {});
    process.exit(1);
  }
}

void main();
