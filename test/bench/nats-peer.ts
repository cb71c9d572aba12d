/**
 * The peer: NATS JetStream with a file-store stream, on this machine, loaded the same way
 * (batches of messages in flight). Needs nats-server (apt-get install nats-server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, StorageType, type JetStreamClient, type NatsConnection } from 'nats';
import { freePort } from '../support/free-port';

export function hasNatsServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v nats-server'], { stdio: 'ignore' }).status === 0;
}

export class NatsPeer {
  private constructor(
    private readonly server: ChildProcess,
    private readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    private readonly storeDir: string,
  ) {}

  static async start(): Promise<NatsPeer> {
    const port = await freePort();
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-nats-'));
    const server = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    let nc: NatsConnection | undefined;
    for (let i = 0; i < 100 && !nc; i++) {
      try {
        nc = await connect({ servers: `127.0.0.1:${port}` });
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!nc) throw new Error('nats-server did not start');
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'], storage: StorageType.File });
    return new NatsPeer(server, nc, nc.jetstream(), storeDir);
  }

  /** Publishes a batch with every publish in flight at once, waiting for all acks. */
  async publishBatch(subject: string, bodies: Uint8Array[]): Promise<void> {
    await Promise.all(bodies.map((b) => this.js.publish(subject, b)));
  }

  async stop(): Promise<void> {
    await this.nc.close();
    this.server.kill('SIGTERM');
    await new Promise((r) => this.server.once('exit', r));
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}
