/** The gateway path: the consume calls of the gateway's HTTP API (seconds, JSON bodies). */
import { ConsumeLimits, type SubscriptionGroupConfig } from '../api/consume-types.js';
import type { GatewayClient } from '../api/gateway-client.js';
import { CirrusError, toCirrusError } from '../errors.js';
import type { AckOutcome, ConsumeBackend, ReceiveParams } from './consume-backend.js';
import { entryError, settleAcks, toSeconds } from './entry-error.js';
import type { MessageView } from './message-view.js';

export class GatewayConsumeBackend implements ConsumeBackend {
  constructor(private readonly gateway: GatewayClient) {}

  async receive(p: ReceiveParams): Promise<MessageView[]> {
    // As POP_PARTS (api/pop-parts.ts): the brokers' records, decoded as the direct path decodes them.
    return this.gateway.receiveMessages(p.topic, p.group, {
      max: p.max,
      invisibleSeconds: toSeconds(p.invisibleMs),
      // Rounded down: a receive must not wait longer than asked.
      waitSeconds: Math.floor(p.waitMs / 1000),
      filter: p.filter,
    });
  }

  async ack(group: string, messages: readonly MessageView[]): Promise<AckOutcome[]> {
    const outcomes: AckOutcome[] = new Array(messages.length).fill(null);
    const byTopic = groupIndexes(messages, (m) => m.topic);
    await Promise.all(
      [...byTopic].map(async ([topic, indexes]) => {
        try {
          const res = await this.gateway.ack(
            topic,
            group,
            indexes.map((i) => messages[i]!.receiptHandle),
          );
          settleAcks(outcomes, indexes, res, 'gateway');
        } catch (e) {
          const err = toCirrusError(e);
          for (const i of indexes) outcomes[i] = err;
        }
      }),
    );
    return outcomes;
  }

  async changeInvisibility(group: string, message: MessageView, invisibleMs: number): Promise<string> {
    const res = await this.gateway.changeInvisibility(message.topic, group, [
      { receiptHandle: message.receiptHandle, invisibleSeconds: toSeconds(invisibleMs) },
    ]);
    const r = res.results[0];
    if (!r) throw new CirrusError('INTERNAL', 'the gateway answered no change-invisibility result');
    if (r.status !== 'OK') throw entryError(r);
    return r.receiptHandle;
  }

  async release(group: string, messages: readonly MessageView[]): Promise<void> {
    const byTopic = groupIndexes(messages, (m) => m.topic);
    await Promise.all(
      [...byTopic].map(([topic, indexes]) =>
        this.gateway
          .changeInvisibility(
            topic,
            group,
            indexes.map((i) => ({ receiptHandle: messages[i]!.receiptHandle, invisibleSeconds: toSeconds(ConsumeLimits.MIN_INVISIBLE_MS) })),
          )
          .catch(() => {
            // Nothing to do: the leases end at their invisibility.
          }),
      ),
    );
  }

  async groupConfig(group: string): Promise<SubscriptionGroupConfig | undefined> {
    try {
      return await this.gateway.getGroup(group);
    } catch (e) {
      // Not created yet: a receive creates it with the defaults (not orderly).
      if (e instanceof CirrusError && e.code === 'GROUP_NOT_FOUND') return undefined;
      throw e;
    }
  }

  close(): void {
    this.gateway.close();
  }
}

/** The indexes of `items` by key, in order (one list per key, not a copy per item). */
function groupIndexes<T>(items: readonly T[], key: (t: T) => string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i < items.length; i++) {
    const k = key(items[i]!);
    const list = out.get(k);
    if (list) list.push(i);
    else out.set(k, [i]);
  }
  return out;
}
