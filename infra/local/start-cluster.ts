/**
 * `npm start`: the whole CirrusMQ cluster on this machine, on embedded backends. Ctrl-C,
 * SIGTERM or SIGHUP (the terminal closed) stop it in order; a process that dies is reported
 * and restarted (supervisor.ts); if this launcher dies, its children notice and stop.
 */
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { launcherHelp, loadLauncherOptions, loadLocalClusterConfig } from './config';
import { LauncherError } from './launcher-error';
import { LocalCluster } from './local-cluster';
import { assertPortsFree } from './port-check';

exitWithHelpIfAsked(launcherHelp());

// A closed terminal (SIGHUP) turns every later write into EIO: the stop must still run.
process.stdout.on('error', () => {});
const out = (s: string) => process.stdout.write(s + '\n');

let config;
let options;
try {
  config = loadLocalClusterConfig();
  options = loadLauncherOptions();
} catch (e) {
  // A ConfigError's message already starts with "invalid launcher configuration".
  out(e instanceof Error ? e.message : `invalid configuration: ${String(e)}`);
  process.exit(2);
}

// Before anything is spawned: a second cluster's processes must never reach the first one's folders.
try {
  await assertPortsFree(config.host, [
    { name: 'nameserver', port: config.nameServerPort },
    ...config.brokers.map((b) => ({ name: b.brokerName, port: b.port })),
    { name: 'gateway', port: config.gatewayPort },
    ...(config.grpcProxy
      ? [
          { name: 'grpc-proxy', port: config.grpcProxy.port },
          { name: 'grpc-proxy health', port: config.grpcProxy.healthPort },
        ]
      : []),
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
  out('\nstopping: gateway and gRPC proxy, then brokers (flush and unregister), then the NameServer...');
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

const backend = options.awsEndpoint ? `DynamoDB at ${options.awsEndpoint}` : 'embedded';
out('');
out(`  NameServer  ${cluster.nameServerUrl}   (route store: ${backend})`);
for (const b of config.brokers) out(`  Broker      ${cluster.brokerUrl(b.brokerName)}  ${b.brokerName} in ${config.clusterName}`);
out(`  Gateway     ${cluster.gatewayUrl}   (OpenAPI: ${cluster.gatewayUrl}/openapi.json)`);
if (cluster.grpcProxyEndpoint) out(`  gRPC proxy  ${cluster.grpcProxyEndpoint}   (RocketMQ 5 clients: endpoints '${cluster.grpcProxyEndpoint}')`);
out(`  Logs        ${config.dataDir}/logs/`);
out('');
out(`Try: curl -X POST ${cluster.gatewayUrl}/v1/topics -H 'content-type: application/json' -d '{"topic":"orders","queues":4}'`);
out(`Ctrl-C stops the cluster.${options.autoRestart ? ' A process that exits is reported here and restarted.' : ''}`);
