/**
 * A NameServer and one broker (broker-a) as processes over one data folder, on free ports:
 * the setup of the crash scenario and the tiered-storage tests. The broker's store is
 * `{dataDir}/broker-a` (its default local tier `{dataDir}/broker-a-tier`), logs go to
 * `{dataDir}/logs/`.
 *
 * With `powerLoss`, the broker runs over the power-loss file layer (power-loss/power-loss.ts)
 * watching its store and its local tier folder, their durable images under
 * `{dataDir}/durable-images/`: pullThePlug(broker, powerLoss) then stands for a power cut.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';
import { powerLossEnv, powerLossFolders, type PowerLossFolders } from './power-loss/power-loss';
import { Proc } from './proc';

export interface SingleBroker {
  dataDir: string;
  nsAddr: string;
  brokerAddr: string;
  storeDir: string;
  nameServer: Proc;
  broker: Proc;
  /** The folders the power-loss layer watches (with `powerLoss: true`). */
  powerLoss?: PowerLossFolders;
}

export interface SingleBrokerOptions {
  /** Run the broker over the power-loss file layer. */
  powerLoss?: boolean;
}

export async function singleBrokerProcs(tmpPrefix: string, brokerEnv: Record<string, string>, options: SingleBrokerOptions = {}): Promise<SingleBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  fs.mkdirSync(path.join(dataDir, 'logs'));
  const nsPort = await freePort();
  const brokerPort = await freePort();
  const nsAddr = `127.0.0.1:${nsPort}`;
  const brokerAddr = `127.0.0.1:${brokerPort}`;
  const storeDir = path.join(dataDir, 'broker-a');
  const powerLoss = options.powerLoss
    ? powerLossFolders(path.join(dataDir, 'durable-images'), [storeDir, brokerEnv.CIRRUSMQ_TIER_DIR ?? `${storeDir}-tier`])
    : undefined;
  const nameServer = new Proc(
    'nameserver',
    'functions/nameserver/src/main.ts',
    {
      CIRRUSMQ_NAMESRV_HOST: '127.0.0.1',
      CIRRUSMQ_NAMESRV_PORT: String(nsPort),
      CIRRUSMQ_DATA_DIR: path.join(dataDir, 'nameserver'),
      CIRRUSMQ_ROUTE_BACKEND: 'embedded',
      CIRRUSMQ_LOG_LEVEL: 'warn',
    },
    `http://${nsAddr}/healthz`,
    path.join(dataDir, 'logs', 'nameserver.log'),
  );
  const broker = new Proc(
    'broker',
    'broker-node/src/main.ts',
    {
      CIRRUSMQ_BROKER_NAME: 'broker-a',
      CIRRUSMQ_BROKER_HOST: '127.0.0.1',
      CIRRUSMQ_BROKER_PORT: String(brokerPort),
      CIRRUSMQ_NAMESRV_ADDR: nsAddr,
      CIRRUSMQ_STORE_DIR: storeDir,
      CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '1000',
      CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '30000',
      CIRRUSMQ_LOG_LEVEL: 'info',
      ...brokerEnv,
      ...(powerLoss ? powerLossEnv(powerLoss) : {}),
    },
    `http://${brokerAddr}/healthz`,
    path.join(dataDir, 'logs', 'broker.log'),
  );
  return { dataDir, nsAddr, brokerAddr, storeDir, nameServer, broker, powerLoss };
}
