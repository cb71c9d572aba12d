/** Heartbeat: the client is alive (every 10 s from the official clients); nothing else to do, the proxy holds no leases per client. */
import type { ProxyContext } from '../proxy-context.js';
import { clientIdOf, unary } from '../rpc.js';
import { okStatus } from '../status.js';

export function heartbeat(ctx: ProxyContext) {
  return unary('Heartbeat', ctx.logger, async (_req: unknown, call) => {
    ctx.sessions.touch(clientIdOf(call));
    return { status: okStatus() };
  });
}
