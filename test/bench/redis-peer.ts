/**
 * The fsync peer: Redis Streams (XADD) with an append-only file. With `appendfsync always`
 * Redis fsyncs the AOF before it answers the commands of an event-loop turn (a group commit,
 * like SYNC_FLUSH); with `everysec` it answers after the write and fsyncs once a second (like
 * ASYNC_FLUSH). Needs redis-server (apt-get install redis-server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../../infra/local/wait-for';
import { freePort } from '../support/free-port';
import { RespConnection } from './resp-lean';

export type AppendFsync = 'always' | 'everysec';

export function hasRedisServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

export class RedisPeer {
  private constructor(
    private readonly server: ChildProcess,
    private readonly dir: string,
    /** "127.0.0.1:port", for clients in other processes. */
    readonly address: string,
    readonly appendfsync: AppendFsync,
  ) {}

  static async start(appendfsync: AppendFsync): Promise<RedisPeer> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cirrusmq-bench-redis-${appendfsync}-`));
    // No RDB snapshots and no automatic AOF rewrite: either forks a child whose CPU would not
    // show in the server's /proc figures, in the middle of a run.
    const server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        appendfsync,
        '--auto-aof-rewrite-percentage',
        '0',
        '--protected-mode',
        'no',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    const address = `127.0.0.1:${port}`;
    await waitFor('redis-server answers PING', 10_000, async () => {
      try {
        const c = await RespConnection.connect(address);
        const pong = await c.command(['PING']);
        c.close();
        return pong === 'PONG';
      } catch {
        return false;
      }
    });
    return new RedisPeer(server, dir, address, appendfsync);
  }

  /** The redis-server process, for its CPU time in /proc. */
  get pid(): number | undefined {
    return this.server.pid;
  }

  /**
   * Empties the stream between runs (the bytes stay in the AOF): Redis keeps a stream in
   * memory, and every run would otherwise add ~1 GB.
   */
  async reset(key: string): Promise<void> {
    const c = await RespConnection.connect(this.address);
    await c.command(['DEL', key]);
    c.close();
  }

  async stop(): Promise<void> {
    this.server.kill('SIGTERM');
    await new Promise((r) => this.server.once('exit', r));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
