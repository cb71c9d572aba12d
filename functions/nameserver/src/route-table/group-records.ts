/**
 * Consumer group config (RocketMQ's SubscriptionGroupConfig) as both stores keep it, and the
 * one rule for what a PUT makes of it, so the embedded and DynamoDB stores cannot drift.
 */
import { GroupDefaults, type PutGroupRequest, type SubscriptionGroupConfig } from '@cirrusmq/client/protocol';

/** A new group: the request's fields over the defaults. */
export function newGroupConfig(group: string, req: PutGroupRequest, now: number): SubscriptionGroupConfig {
  return {
    group,
    retryMaxTimes: req.retryMaxTimes ?? GroupDefaults.RETRY_MAX_TIMES,
    orderly: req.orderly ?? GroupDefaults.ORDERLY,
    consumeFrom: req.consumeFrom ?? GroupDefaults.CONSUME_FROM,
    createdAt: now,
  };
}

/** An update: fields the request leaves out keep their value; createdAt never changes. */
export function updatedGroupConfig(current: SubscriptionGroupConfig, req: PutGroupRequest): SubscriptionGroupConfig {
  return {
    group: current.group,
    retryMaxTimes: req.retryMaxTimes ?? current.retryMaxTimes,
    orderly: req.orderly ?? current.orderly,
    consumeFrom: req.consumeFrom ?? current.consumeFrom,
    createdAt: current.createdAt,
  };
}

export function sortGroups(groups: SubscriptionGroupConfig[]): SubscriptionGroupConfig[] {
  return groups.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
}
