/** RecallMessage: recalls a delayed message before delivery; timers do not exist yet (issue 14). */
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';

export function recallMessage(ctx: ProxyContext) {
  return unary('RecallMessage', ctx.logger, async () => ({
    status: { code: 'UNSUPPORTED', message: 'delayed messages (and so recalls) are not supported yet' },
    message_id: '',
  }));
}
