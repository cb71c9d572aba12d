/**
 * `npm start`: the whole CirrusMQ cluster on this machine, on embedded backends. Ctrl-C,
 * SIGTERM or SIGHUP (the terminal closed) stop it in order; a process that dies is reported
 * and restarted (supervisor.ts); if this launcher dies, its children notice and stop.
 */
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { loadLauncherOptions, loadLocalClusterConfig } from './config';
import { LauncherError } from './launcher-error';
import { LocalCluster } from './local-cluster';
import { assertPortsFree } from './port-check';

exitWithHelpIfAsked(`npm start: the whole CirrusMQ cluster on this machine (NameServer, brokers, gateway)

Environment:
  CIRRUSMQ_DATA_DIR        data and logs (./.cirrusmq-data)
  CIRRUSMQ_NAMESRV_PORT    NameServer port (9876)
  CIRRUSMQ_BROKERS         brokers as name:port,... (broker-a:10911,broker-b:10921)
  CIRRUSMQ_GATEWAY_PORT    gateway port (8080)
  CIRRUSMQ_CLUSTER         cluster name (DefaultCluster)
  CIRRUSMQ_AUTO_RESTART    restart a process that exits unexpectedly, with backoff (1; 0 turns it off)
  CIRRUSMQ_RESTART_DELAY_MS  first restart delay, doubled per quick failure up to 30 s (500)
  AWS_ENDPOINT_URL         run the NameServer on DynamoDB there (LocalStack, moto_server)
Every process also reads its own variables: see README.md, or run its entry with --help.
Ctrl-C, SIGTERM and SIGHUP stop the cluster: gateway, brokers (flush, unregister), NameServer.
`);

// A closed terminal (SIGHUP) turns every later write into EIO: the stop must still run.
process.stdout.on('error', () => {});
const out = (s: string) => process.stdout.write(s + '\n');

let config;
let options;
try {
  config = loadLocalClusterConfig();
  options = loadLauncherOptions();
} catch (e) {
  out(`invalid configuration: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}

// Before anything is spawned: a second cluster's processes must never reach the first one's folders.
try {
  await assertPortsFree(config.host, [
    { name: 'nameserver', port: config.nameServerPort },
    ...config.brokers.map((b) => ({ name: b.brokerName, port: b.port })),
    { name: 'gateway', port: config.gatewayPort },
  ]);
} catch (e) {
  if (!(e instanceof LauncherError)) throw e;
  out(`cannot start: ${e.message}`);
  process.exit(1);
}

const cluster = new LocalCluster(config, { supervise: options.autoRestart, restartPolicy: options.restartPolicy, report: out });
out(`CirrusMQ: starting the local cluster (data in ${config.dataDir})`);
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  out('\nstopping: gateway, then brokers (flush and unregister), then the NameServer...');
  await cluster.stop();
  out('stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGHUP', () => void stop());

try {
  await cluster.start();
} catch (e) {
  // A signal during the start stopped the processes on purpose; stop() exits.
  if (stopping) await new Promise(() => {});
  out(`failed to start: ${e instanceof Error ? e.message : String(e)}`);
  await cluster.stop();
  process.exit(1);
}
if (stopping) await new Promise(() => {});

const backend = process.env.AWS_ENDPOINT_URL ? `DynamoDB at ${process.env.AWS_ENDPOINT_URL}` : 'embedded';
out('');
out(`  NameServer  ${cluster.nameServerUrl}   (route store: ${backend})`);
for (const b of config.brokers) out(`  Broker      ${cluster.brokerUrl(b.brokerName)}  ${b.brokerName} in ${config.clusterName}`);
out(`  Gateway     ${cluster.gatewayUrl}   (OpenAPI: ${cluster.gatewayUrl}/openapi.json)`);
out(`  Logs        ${config.dataDir}/logs/`);
out('');
out(`Try: curl -X POST ${cluster.gatewayUrl}/v1/topics -H 'content-type: application/json' -d '{"topic":"orders","queues":4}'`);
out(`Ctrl-C stops the cluster.${options.autoRestart ? ' A process that exits is reported here and restarted.' : ''}`);
