/**
 * The producer group of a gRPC producer's transactions. The RocketMQ 5 protocol has no
 * producer group (its settings name topics only), so Apache's proxy uses the topic as the
 * group: half messages are marked with it, and a check-back goes to any producer of the
 * topic. CirrusMQ does the same; a topic that is not a valid group name (longer than 64
 * characters, or with '%' or '|') gets a stable name derived from it.
 */
import { createHash } from 'node:crypto';
import { GROUP_PATTERN, RESERVED_GROUP_PREFIXES } from '@cirrusmq/client/protocol';

export function producerGroupOf(topic: string): string {
  if (GROUP_PATTERN.test(topic) && !RESERVED_GROUP_PREFIXES.some((p) => topic.startsWith(p))) return topic;
  return `tx-${createHash('sha256').update(topic).digest('hex').slice(0, 40)}`;
}
