/**
 * A NameServer and one broker (broker-a) as processes over one data folder, on free ports:
 * the setup of the crash scenario and the tiered-storage tests. The broker's store is
 * `{dataDir}/broker-a` (its default local tier `{dataDir}/broker-a-tier`), logs go to
 * `{dataDir}/logs/`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';
import { Proc } from './proc';

export interface SingleBroker {
  dataDir: string;
  nsAddr: string;
  brokerAddr: string;
  storeDir: string;
  nameServer: Proc;
  broker: Proc;
}

export async function singleBrokerProcs(tmpPrefix: string, brokerEnv: Record<string, string>): Promise<SingleBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  fs.mkdirSync(path.join(dataDir, 'logs'));
  const nsPort = await freePort();
  const brokerPort = await freePort();
  const nsAddr = `127.0.0.1:${nsPort}`;
  const brokerAddr = `127.0.0.1:${brokerPort}`;
  const storeDir = path.join(dataDir, 'broker-a');
  const nameServer = new Proc(
    'nameserver',
    'functions/nameserver/src/main.ts',
    { CIRRUSMQ_NAMESRV_HOST: '127.0.0.1', CIRRUSMQ_NAMESRV_PORT: String(nsPort), CIRRUSMQ_DATA_DIR: path.join(dataDir, 'nameserver'), CIRRUSMQ_ROUTE_BACKEND: 'embedded', CIRRUSMQ_LOG_LEVEL: 'warn' },
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
    },
    `http://${brokerAddr}/healthz`,
    path.join(dataDir, 'logs', 'broker.log'),
  );
  return { dataDir, nsAddr, brokerAddr, storeDir, nameServer, broker };
}
