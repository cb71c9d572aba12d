import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentTypes, createLogger, silentLogger } from '@cirrusmq/client/protocol';
import { waitFor } from '../../infra/local/wait-for';
import { BrokerController } from './broker-controller';
import { loadBrokerConfig } from './config';
import { FakeNameServer } from './testing/fake-nameserver';
import { removeDir, sendBody, tempDir } from './testing/fixtures';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  removeDir(dir);
  removeDir(`${dir}-tier`); // the default local tier folder, beside the store folder
});

function post(port: number, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/send', headers: { 'content-type': ContentTypes.SEND_BATCH, 'content-length': body.length } },
      (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: s }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('BrokerController', () => {
  it('starts, registers its real address, serves, and on shutdown unregisters and keeps the data', async () => {
    const ns = new FakeNameServer();
    ns.addTopic('TopicA', 2);
    const config = loadBrokerConfig({
      CIRRUSMQ_BROKER_PORT: '0',
      CIRRUSMQ_STORE_DIR: dir,
      CIRRUSMQ_HEARTBEAT_INTERVAL_MS: '100',
      CIRRUSMQ_COMMITLOG_SEGMENT_BYTES: '65536',
    });
    const lines: string[] = [];
    const b = new BrokerController(config, { nameServer: ns, logger: createLogger({}, 'info', (l) => lines.push(l)) });
    await b.start();
    expect(b.port).toBeGreaterThan(0);
    expect(ns.registrations[0]).toMatchObject({
      clusterName: 'DefaultCluster',
      brokerName: 'broker-a',
      brokerId: 0,
      brokerAddr: `127.0.0.1:${b.port}`,
      heartbeatTimeoutMs: 120_000,
    });
    expect(lines.some((l) => l.includes('"msg":"broker listening"') && l.includes(`"port":${b.port}`))).toBe(true);
    const r = await post(b.port, sendBody('TopicA', 1, ['a', 'b']));
    expect(r.status).toBe(200);
    // Known from the registration answer; one getTopic checks the topic's incarnation (createdAt) before its first use here.
    expect(ns.getTopicCalls).toBe(1);
    await b.shutdown();
    expect(ns.unregistrations.length).toBe(1);
    await expect(post(b.port, sendBody('TopicA', 1, ['c']))).rejects.toThrow();

    const again = new BrokerController(config, { nameServer: ns, logger: silentLogger });
    await again.start();
    expect((await again.store.getMessage('TopicA', 1, 0, 10)).count).toBe(2);
    await again.shutdown();
  });

  it('can be shut down while still retrying registration', async () => {
    const ns = new FakeNameServer();
    ns.failRegistrations = 1_000;
    const config = loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: dir });
    const b = new BrokerController(config, { nameServer: ns, logger: silentLogger });
    const started = b.start();
    // In the retry loop: a registration has failed (the store is open, the server up).
    await waitFor('a failed registration', 20_000, async () => ns.failRegistrations < 1_000, 5);
    await b.shutdown();
    await started;
    expect(ns.registrations.length).toBe(0);
    expect(ns.unregistrations.length).toBe(0);
  });

  it('can be shut down while its store is still opening', async () => {
    const ns = new FakeNameServer();
    const config = loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: dir });
    const b = new BrokerController(config, { nameServer: ns, logger: silentLogger });
    const started = b.start();
    await b.shutdown();
    await started;
    expect(ns.registrations.length).toBe(0);
    expect(b.store.isOpen()).toBe(false);
  });
});

/** Whether a TCP connection to host:port is accepted (false on ECONNREFUSED). */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve(false) : reject(e)));
  });
}

describe('listen host', () => {
  // A non-loopback address of this machine, if it has one.
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it('listens on 127.0.0.1 only unless CIRRUSMQ_BROKER_LISTEN_HOST says otherwise', async () => {
    const ns = new FakeNameServer();
    const config = loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: dir });
    expect(config.listenHost).toBe('127.0.0.1');
    const b = new BrokerController(config, { nameServer: ns, logger: silentLogger });
    await b.start();
    try {
      expect(await connects('127.0.0.1', b.port)).toBe(true);
      if (external) expect(await connects(external, b.port)).toBe(false);
    } finally {
      await b.shutdown();
    }
  });

  it.skipIf(!external)('listens on every interface with CIRRUSMQ_BROKER_LISTEN_HOST=0.0.0.0 (as containers set it)', async () => {
    const ns = new FakeNameServer();
    const config = loadBrokerConfig({ CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: dir, CIRRUSMQ_BROKER_LISTEN_HOST: '0.0.0.0' });
    const b = new BrokerController(config, { nameServer: ns, logger: silentLogger });
    await b.start();
    try {
      expect(await connects(external!, b.port)).toBe(true);
    } finally {
      await b.shutdown();
    }
  });
});

describe('main.ts', () => {
  it('runs as node --import tsx, logs JSON lines, and exits 0 on SIGTERM', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', 'broker-node/src/main.ts'], {
      cwd: root,
      env: { ...process.env, CIRRUSMQ_BROKER_PORT: '0', CIRRUSMQ_STORE_DIR: dir, CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:1', CIRRUSMQ_BROKER_NAME: 'broker-main' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(
      'the broker to log "broker listening"',
      45_000,
      async () => {
        if (child.exitCode !== null) throw new Error(`broker exited (${child.exitCode}) while starting: ${out}`);
        return out.includes('broker listening');
      },
      50,
    );
    const line = out.split('\n').find((l) => l.includes('broker listening'))!;
    const entry = JSON.parse(line) as { brokerName: string; port: number };
    expect(entry.brokerName).toBe('broker-main');
    const health = await fetch(`http://127.0.0.1:${entry.port}/healthz`).then((r) => r.json());
    expect(health).toEqual({ status: 'ok', brokerName: 'broker-main', pid: child.pid });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('"msg":"broker stopped"');
  }, 90_000);
});
