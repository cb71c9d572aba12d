/**
 * Ports are checked before anything is spawned: a second launcher whose children fail with
 * EADDRINUSE only after they opened their store folders is how a live cluster got corrupted.
 */
import net from 'node:net';
import { LauncherError } from './launcher-error';

export interface WantedPort {
  /** The process that will listen on it: "nameserver", "broker-a", "gateway". */
  name: string;
  port: number;
}

/** Throws LauncherError PORT_CONFLICT when two processes are given one port, PORT_IN_USE when one is taken. */
export async function assertPortsFree(host: string, wanted: readonly WantedPort[]): Promise<void> {
  const seen = new Map<number, string>();
  for (const w of wanted) {
    const other = seen.get(w.port);
    if (other) throw new LauncherError('PORT_CONFLICT', `port ${w.port} is given to both ${other} and ${w.name}`);
    seen.set(w.port, w.name);
  }
  for (const w of wanted) {
    const err = await tryListen(host, w.port);
    if (err?.code === 'EADDRINUSE') {
      throw new LauncherError('PORT_IN_USE', `port ${w.port} (${w.name}) is in use: is a cluster already running?`, { cause: err });
    }
    if (err) throw new LauncherError('PORT_IN_USE', `port ${w.port} (${w.name}) cannot be opened on ${host}: ${err.message}`, { cause: err });
  }
}

/** Binds and releases host:port; answers the bind error, if any. */
function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    // exclusive: a port held by a cluster worker must count as taken too.
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}
