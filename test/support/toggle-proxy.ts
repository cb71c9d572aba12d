/**
 * A TCP proxy in front of a service (moto_server) that a test can take down and bring back:
 * an S3 or DynamoDB outage without losing the emulator's state. While down, open
 * connections are cut and new ones are closed at once, as an unreachable endpoint would.
 */
import net from 'node:net';

export class ToggleProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private isUp = true;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => {
      if (!this.isUp) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  /** Starts listening on a free port; `endpoint` then points at it. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  down(): void {
    this.isUp = false;
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.isUp = true;
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** For a URL like http://127.0.0.1:5000. */
  static async forEndpoint(endpoint: string): Promise<ToggleProxy> {
    const u = new URL(endpoint);
    return new ToggleProxy(u.hostname, Number(u.port)).start();
  }
}
