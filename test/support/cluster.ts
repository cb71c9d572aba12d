/** A whole local cluster as real processes, on free ports and a temp data folder, for end-to-end tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLocalClusterConfig } from '../../infra/local/config';
import { LocalCluster } from '../../infra/local/local-cluster';
import { freePort } from './free-port';
import { waitFor } from '../../infra/local/wait-for';
import { sample } from './prometheus-text';

export interface TestClusterOptions {
  brokers?: string[];
  env?: Record<string, string>;
  dataDir?: string;
  /** Also start the gRPC proxy (on free ports); its address is then cluster.grpcProxyEndpoint. */
  grpcProxy?: boolean;
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<LocalCluster> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-e2e-'));
  const brokers = [];
  for (const brokerName of options.brokers ?? ['broker-a', 'broker-b']) brokers.push({ brokerName, port: await freePort() });
  const config = {
    ...loadLocalClusterConfig({}),
    dataDir,
    nameServerPort: await freePort(),
    gatewayPort: await freePort(),
    grpcProxy: options.grpcProxy ? { port: await freePort(), healthPort: await freePort() } : undefined,
    brokers,
    env: {
      CIRRUSMQ_LOG_LEVEL: 'warn',
      // Fast liveness so tests see expiry in seconds, small files so they roll over.
      CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '1000',
      CIRRUSMQ_HEARTBEAT_TIMEOUT_MS: '4000',
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: String(1024 * 1024),
      CIRRUSMQ_CONSUMEQUEUE_UNITS_PER_FILE: '1000',
      ...options.env,
    },
  };
  const cluster = new LocalCluster(config);
  try {
    await cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** JSON over fetch, returning status and parsed body. */
export async function api(base: string, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + urlPath, init);
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

/** Stops the cluster and removes its data folder (kept when CIRRUSMQ_KEEP_TEST_DATA=1, to read the logs). */
export async function stopTestCluster(cluster: LocalCluster | undefined): Promise<void> {
  if (!cluster) return;
  await cluster.stop();
  if (process.env.CIRRUSMQ_KEEP_TEST_DATA !== '1') fs.rmSync(cluster.config.dataDir, { recursive: true, force: true });
}

/** Every message of one queue, read through the gateway from offset 0 in pages. */
export async function readWholeQueue(gatewayUrl: string, topic: string, broker: string, queueId: number, page = 256): Promise<any[]> {
  const all: any[] = [];
  for (;;) {
    const res = await api(gatewayUrl, 'GET', `/v1/topics/${topic}/messages?broker=${broker}&queueId=${queueId}&offset=${all.length}&max=${page}`);
    if (res.status !== 200) throw new Error(`read ${broker}/${queueId} answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (res.body.messages.length === 0) return all;
    if (res.body.nextOffset !== all.length + res.body.messages.length)
      throw new Error(`nextOffset ${res.body.nextOffset} after ${all.length} + ${res.body.messages.length}`);
    all.push(...res.body.messages);
  }
}

/** Receives long-polling on each broker of the cluster now (cirrusmq_broker_pop_parked_receives), in config order. */
export async function parkedReceives(cluster: LocalCluster): Promise<number[]> {
  return Promise.all(
    cluster.config.brokers.map(async ({ brokerName }) => {
      const text = await (await fetch(`${cluster.brokerUrl(brokerName)}/metrics`)).text();
      return sample(text, 'cirrusmq_broker_pop_parked_receives', { broker: brokerName }) ?? 0;
    }),
  );
}

/** Waits until a receive started after `before` was read has parked a long poll on every broker. */
export async function waitUntilParked(cluster: LocalCluster, before: number[], timeoutMs = 10_000): Promise<void> {
  await waitFor('a receive long-polling on every broker', timeoutMs, async () => (await parkedReceives(cluster)).every((n, i) => n > before[i]!));
}
