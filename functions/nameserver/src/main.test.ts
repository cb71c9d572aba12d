/** main.ts as a real process: it listens, serves, and exits 0 on SIGTERM. */
import { spawn } from 'node:child_process';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { motoClientConfig } from '../../../test/support/moto';

const MAIN = path.resolve(import.meta.dirname, 'main.ts');
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function runNameServer(env: Record<string, string>): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cirrusmq-ns-main-'));
  dirs.push(dataDir);
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH, CIRRUSMQ_NAMESRV_PORT: '0', CIRRUSMQ_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const listening = await new Promise<{ port: number; backend: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('nameserver did not start')), 20_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg: string; port: number; backend: string };
        if (entry.msg === 'nameserver listening') {
          clearTimeout(timer);
          resolve(entry);
        }
      });
      void exited.then((code) => reject(new Error(`nameserver exited with ${code} before listening`)));
    });
    expect(listening.backend).toBe(env.CIRRUSMQ_ROUTE_BACKEND);
    const base = `http://127.0.0.1:${listening.port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', pid: expect.any(Number) });
    const reg = await fetch(`${base}/v1/brokers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clusterName: 'c1', brokerName: 'broker-a', brokerId: 0, brokerAddr: '127.0.0.1:10911', startedAt: 1 }),
    });
    expect(reg.status).toBe(200);
    const topic = await fetch(`${base}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'orders', queues: 2 }),
    });
    expect(topic.status).toBe(201);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}

describe('main.ts', () => {
  it('serves the embedded backend and exits 0 on SIGTERM', async () => {
    await runNameServer({ CIRRUSMQ_ROUTE_BACKEND: 'embedded' });
  });

  const moto = inject('motoEndpoint');
  it.skipIf(!moto)('creates its DynamoDB table on an emulator and serves from it', async () => {
    const tableName = `cirrusmq-ns-main-${process.pid}-${Date.now().toString(36)}`;
    await runNameServer({ CIRRUSMQ_ROUTE_BACKEND: 'dynamodb', AWS_ENDPOINT_URL: moto, CIRRUSMQ_TABLE_NAME: tableName });
    const client = new DynamoDBClient(motoClientConfig(moto));
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    client.destroy();
  });
});
