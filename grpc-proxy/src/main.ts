/**
 * The gRPC proxy as a process (npm start, a container): RocketMQ 5's MessagingService on
 * `port`; GET /healthz (answering the pid, as the other runtimes do) and GET /metrics on `healthPort`.
 */
import http from 'node:http';
import { exitWithHelpIfAsked } from '@cirrusmq/client/server';
import { loadProxyConfig, proxyHelp } from './config.js';
import { closeProxyContext, createProxyContext } from './create-context.js';
import { startProxyServer, stopProxyServer } from './server.js';

exitWithHelpIfAsked(proxyHelp());

const config = loadProxyConfig();
const ctx = createProxyContext(config);
const { server, port } = await startProxyServer(ctx, config.host, config.port).catch((e: Error) => {
  ctx.logger.error('grpc-proxy cannot listen', { host: config.host, port: config.port, err: e });
  process.exit(1);
});
const health = http.createServer((req, res) => {
  if (req.url === '/metrics') {
    ctx.metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(text);
    });
    return;
  }
  const ok = req.url === '/healthz';
  res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify(
      ok
        ? { status: 'UP', pid: process.pid, grpcPort: port, clients: ctx.sessions.size }
        : { error: { code: 'NOT_FOUND', message: 'GET /healthz or /metrics' } },
    ),
  );
});
health.on('error', (e) => {
  ctx.logger.error('grpc-proxy health port cannot listen', { host: config.host, port: config.healthPort, err: e });
  process.exit(1);
});
health.listen(config.healthPort, config.host, () => {
  const addr = health.address();
  ctx.logger.info('grpc-proxy listening', {
    host: config.host,
    port,
    healthPort: typeof addr === 'object' && addr ? addr.port : config.healthPort,
    nameServer: config.nameServerAddr,
  });
});

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  ctx.logger.info('grpc-proxy stopping', { signal });
  health.close();
  stopProxyServer(server).then(() => {
    closeProxyContext(ctx);
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 5_000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// Started by the launcher with an IPC channel: it closes when the launcher dies, even by SIGKILL.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => shutdown('launcher gone'));
}
