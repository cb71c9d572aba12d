/** NotifyClientTermination: the client shuts down; its session and its check-back polls are forgotten. */
import type { ProxyContext } from '../proxy-context.js';
import { clientIdOf, unary } from '../rpc.js';
import { okStatus } from '../status.js';

export function notifyClientTermination(ctx: ProxyContext) {
  return unary('NotifyClientTermination', ctx.logger, async (_req: unknown, call) => {
    const clientId = clientIdOf(call);
    ctx.sessions.remove(clientId);
    ctx.transactionChecks.unwatch(clientId);
    ctx.logger.debug('client terminated', { clientId });
    return { status: okStatus() };
  });
}
