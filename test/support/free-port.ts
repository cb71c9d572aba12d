import net from 'node:net';

/*
 * Ports come from below Linux's ephemeral range (32768-60999): a port the OS hands out with
 * listen(0) is also what it hands to outgoing connections, and on a busy machine one of
 * those can take it between this check and the child's bind. A port is not handed out twice
 * by one test process, and each vitest worker draws from its own slice of the range: a
 * broker SIGKILLed and restarted on its port must not find it taken by another test file's
 * process in the moment it was free.
 */
const SLICES = 8;
const SLICE = 1_500;
const slice = Number(process.env.VITEST_POOL_ID ?? 0) % SLICES;
const LOW = 20_000 + slice * SLICE;
const HIGH = LOW + SLICE;
const given = new Set<number>();

/** A TCP port that was free a moment ago on 127.0.0.1, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port found from ${LOW} to ${HIGH}`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
