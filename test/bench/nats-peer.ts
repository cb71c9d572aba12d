/**
 * The peer: NATS JetStream with a file-store stream, on this machine, loaded the same way
 * (batches of messages in flight). Needs nats-server (apt-get install nats-server).
 *
 * publishBatch is a core-NATS publish with a reply subject and one wildcard subscription that
 * collects the stream's acks (not nats.js's `js.publish`, ~19k msg/s here), with a promise per
 * message: enough to pre-store messages (bench:consume). bench:produce measures JetStream with
 * jetstream-lean.ts in a process of its own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AckPolicy, connect, createInbox, DeliverPolicy, StorageType, type NatsConnection } from 'nats';
import { freePort } from '../support/free-port';

export function hasNatsServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v nats-server'], { stdio: 'ignore' }).status === 0;
}

export class NatsPeer {
  private readonly pending = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly inbox = createInbox();
  private next = 0;

  private constructor(
    private readonly server: ChildProcess,
    private readonly nc: NatsConnection,
    private readonly storeDir: string,
    /** "127.0.0.1:port", for clients in other processes. */
    readonly address: string = '',
  ) {
    nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        const token = msg.subject.slice(this.inbox.length + 1);
        const waiter = this.pending.get(token);
        if (!waiter) return;
        this.pending.delete(token);
        // A stream ack is {"stream":"BENCH","seq":N}; a refusal is {"error":…}.
        if (err || msg.data[2] !== 0x73 /* s */) waiter.reject(err ?? new Error(`publish refused: ${msg.string()}`));
        else waiter.resolve();
      },
    });
  }

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
    return new NatsPeer(server, nc, storeDir, `127.0.0.1:${port}`);
  }

  /** Publishes a batch with every publish in flight at once, and waits for every stream ack. */
  publishBatch(subject: string, bodies: Uint8Array[]): Promise<unknown> {
    return Promise.all(
      bodies.map(
        (b) =>
          new Promise<void>((resolve, reject) => {
            const token = String(this.next++);
            this.pending.set(token, { resolve, reject });
            this.nc.publish(subject, b, { reply: `${this.inbox}.${token}` });
          }),
      ),
    );
  }

  /** One publish; resolves at the stream's ack (the peer's SEND_OK). */
  publish(subject: string, body: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const token = String(this.next++);
      this.pending.set(token, { resolve, reject });
      this.nc.publish(subject, body, { reply: `${this.inbox}.${token}` });
    });
  }

  /** The nats-server process, for its CPU time in /proc. */
  get pid(): number | undefined {
    return this.server.pid;
  }

  /**
   * A durable pull consumer on the stream, from its first message, acked one message at a
   * time (AckExplicit), as RocketMQ's POP consumers ack each message.
   */
  async addPullConsumer(name: string, filterSubject?: string): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.add('BENCH', {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...(filterSubject ? { filter_subject: filterSubject } : {}),
    });
  }

  async stop(): Promise<void> {
    await this.nc.close();
    this.server.kill('SIGTERM');
    await new Promise((r) => this.server.once('exit', r));
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}
