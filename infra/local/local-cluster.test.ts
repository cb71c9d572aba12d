/**
 * LocalCluster as a process owner: a port that answers /healthz as another process is never
 * taken for its child's (the banner of a second `npm start` came from the first cluster's answers).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port';
import { loadLocalClusterConfig } from './config';
import { LocalCluster } from './local-cluster';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('LocalCluster', () => {
  it('does not take another process answering /healthz on its port for its own child', async () => {
    const port = await freePort();
    const impostor = http.createServer((_req, res) => res.end(JSON.stringify({ status: 'ok', pid: 1 })));
    await new Promise<void>((r) => impostor.listen(port, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => impostor.close(() => r())));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-local-cluster-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));

    const cluster = new LocalCluster({ ...loadLocalClusterConfig({}), dataDir, nameServerPort: port, env: { CIRRUSMQ_LOG_LEVEL: 'warn' } });
    cleanup.push(() => cluster.stop());
    fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
    const err = await cluster.startProcess('nameserver').catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'CHILD_EXITED',
      message: expect.stringContaining('its port answers as another process, pid 1: is a cluster already running?'),
    });
    expect(cluster.isRunning('nameserver')).toBe(false);
    expect(fs.readFileSync(cluster.logFile('nameserver'), 'utf8')).toContain('EADDRINUSE');
    // The log's tail travels in the error: a test's data folder (logs included) is deleted after it.
    expect((err as Error).message).toContain('EADDRINUSE');
  });

  it('answers its child pid, which the child answers in /healthz', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-local-cluster-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const cluster = new LocalCluster({ ...loadLocalClusterConfig({}), dataDir, nameServerPort: await freePort(), env: { CIRRUSMQ_LOG_LEVEL: 'warn' } });
    cleanup.push(() => cluster.stop());
    fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
    await cluster.startProcess('nameserver');
    const health = (await (await fetch(`${cluster.nameServerUrl}/healthz`)).json()) as { pid: number };
    expect(health.pid).toBe(cluster.pid('nameserver'));
  });
});
