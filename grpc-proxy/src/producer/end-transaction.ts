/** EndTransaction: transactional messages do not exist yet (issue 14), so there is nothing to commit or roll back. */
import type { ProxyContext } from '../proxy-context.js';
import { unary } from '../rpc.js';

export function endTransaction(ctx: ProxyContext) {
  return unary('EndTransaction', ctx.logger, async () => ({
    status: { code: 'UNSUPPORTED', message: 'transactional messages are not supported yet' },
  }));
}
