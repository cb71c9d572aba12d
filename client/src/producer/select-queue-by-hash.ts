/**
 * SelectMessageQueueByHash: messages with one sharding key always land in one queue, so they
 * stay in order. The hash is Java's String.hashCode, as RocketMQ's selector uses.
 */
import { javaHashCode } from '../codec/tag-hash.js';
import type { MessageQueue } from '../message.js';

export function selectQueueByHash(queues: readonly MessageQueue[], shardingKey: string): MessageQueue {
  const h = Math.abs(javaHashCode(shardingKey)) % queues.length;
  return queues[h]!;
}
