/** `npm start`: the whole CirrusMQ cluster on this machine, on embedded backends. Ctrl-C stops it. */
import { exitWithHelpIfAsked } from '../../client/src/help';
import { loadLocalClusterConfig } from './config';
import { LocalCluster } from './local-cluster';

exitWithHelpIfAsked(`npm start: the whole CirrusMQ cluster on this machine (NameServer, brokers, gateway)

Environment:
  CIRRUSMQ_DATA_DIR        data and logs (./.cirrusmq-data)
  CIRRUSMQ_NAMESRV_PORT    NameServer port (9876)
  CIRRUSMQ_BROKERS         brokers as name:port,... (broker-a:10911,broker-b:10921)
  CIRRUSMQ_GATEWAY_PORT    gateway port (8080)
  CIRRUSMQ_CLUSTER         cluster name (DefaultCluster)
  AWS_ENDPOINT_URL         run the NameServer on DynamoDB there (LocalStack, moto_server)
Every process also reads its own variables: see README.md, or run its entry with --help.
`);

const config = loadLocalClusterConfig();
const cluster = new LocalCluster(config);
const out = (s: string) => process.stdout.write(s + '\n');

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

try {
  await cluster.start();
} catch (e) {
  out(`failed to start: ${e instanceof Error ? e.message : String(e)}`);
  await cluster.stop();
  process.exit(1);
}

const backend = process.env.AWS_ENDPOINT_URL ? `DynamoDB at ${process.env.AWS_ENDPOINT_URL}` : 'embedded';
out('');
out(`  NameServer  ${cluster.nameServerUrl}   (route store: ${backend})`);
for (const b of config.brokers) out(`  Broker      ${cluster.brokerUrl(b.brokerName)}  ${b.brokerName} in ${config.clusterName}`);
out(`  Gateway     ${cluster.gatewayUrl}   (OpenAPI: ${cluster.gatewayUrl}/openapi.json)`);
out(`  Logs        ${config.dataDir}/logs/`);
out('');
out(`Try: curl -X POST ${cluster.gatewayUrl}/v1/topics -H 'content-type: application/json' -d '{"topic":"orders","queues":4}'`);
out('Ctrl-C stops the cluster.');
