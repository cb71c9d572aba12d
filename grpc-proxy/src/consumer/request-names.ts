/** The topic and group every consumer RPC names, checked as the brokers check them, each failure as its RocketMQ code. */
import { CirrusError, validateGroup, validateTopic } from '@cirrusmq/client/protocol';
import { RmqStatusError } from '../status.js';
import { resourceName } from '../rpc.js';

export function topicAndGroup(request: { topic?: { name?: string } | null; group?: { name?: string } | null }): { topic: string; group: string } {
  return {
    topic: checked(() => validateTopic(resourceName(request.topic)), 'ILLEGAL_TOPIC'),
    group: checked(() => validateGroup(resourceName(request.group)), 'ILLEGAL_CONSUMER_GROUP'),
  };
}

/** Runs a validation, its CirrusError answered as `code` with the validator's message. */
export function checked<T>(fn: () => T, code: 'ILLEGAL_TOPIC' | 'ILLEGAL_CONSUMER_GROUP' | 'ILLEGAL_FILTER_EXPRESSION'): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CirrusError) throw new RmqStatusError(code, e.message);
    throw e;
  }
}
