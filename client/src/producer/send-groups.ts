/**
 * Which messages of a batch travel together (Producer.sendPrepared sends each group as one
 * request): all of them to one round-robin queue, or per sharding key to its hashed queue. A
 * send's results are its first offset + i, so scheduled messages travel apart from the rest:
 * the broker stores them in its timer queue.
 */
import type { Message } from '../message.js';

export interface SendGroup {
  /** undefined: a round-robin queue. */
  shardingKey: string | undefined;
  indexes: number[];
}

export function sendGroupsOf(messages: readonly Pick<Message, 'shardingKey' | 'deliverAt' | 'delaySeconds' | 'delayTimeLevel'>[]): SendGroup[] {
  let plain = true;
  for (let i = 0; i < messages.length && plain; i++) plain = messages[i]!.shardingKey === undefined && !isScheduled(messages[i]!);
  if (plain) return [{ shardingKey: undefined, indexes: Array.from({ length: messages.length }, (_, i) => i) }];
  const byKey = new Map<string, SendGroup>();
  messages.forEach((m, i) => {
    const k = `${isScheduled(m) ? 'T' : 'N'}${m.shardingKey === undefined ? '' : `:${m.shardingKey}`}`;
    const g = byKey.get(k);
    if (g) g.indexes.push(i);
    else byKey.set(k, { shardingKey: m.shardingKey, indexes: [i] });
  });
  return [...byKey.values()];
}

function isScheduled(m: Pick<Message, 'deliverAt' | 'delaySeconds' | 'delayTimeLevel'>): boolean {
  return m.deliverAt !== undefined || m.delaySeconds !== undefined || m.delayTimeLevel !== undefined;
}
