/** Placeholder until the consumer RPCs land: ReceiveMessage, AckMessage, ChangeInvisibleDuration, ForwardMessageToDeadLetterQueue answer UNIMPLEMENTED. */
import type { ProxyContext } from '../proxy-context.js';
import type { ConsumerRpcs } from '../rpc-types.js';

export function consumerRpcs(_ctx: ProxyContext): Partial<ConsumerRpcs> {
  return {};
}
