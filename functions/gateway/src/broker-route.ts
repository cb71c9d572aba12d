/**
 * Broker addresses from the gateway's route cache: a topic's route as TopicPublishInfo, whose
 * brokerAddrs (brokerName -> master) is the one place the master address is picked.
 */
import { CirrusError, type RouteCache, type TopicPublishInfo } from '@cirrusmq/client/protocol';

export interface BrokerTarget {
  brokerName: string;
  addr: string;
}

/** The master of each broker serving the topic (brokers without a live master are left out). */
export function topicMasters(info: TopicPublishInfo): BrokerTarget[] {
  const targets: BrokerTarget[] = [];
  for (const qd of info.route.queueDatas) {
    const addr = info.brokerAddrs.get(qd.brokerName);
    if (addr) targets.push({ brokerName: qd.brokerName, addr });
  }
  return targets;
}

/** The address to read `queueId` of `brokerName` from; the cached route is refreshed once if the broker or queue is not in it. */
export async function readableBrokerAddr(routes: RouteCache, topic: string, brokerName: string, queueId: number): Promise<string> {
  const find = (info: TopicPublishInfo) => ({ qd: info.route.queueDatas.find((q) => q.brokerName === brokerName), addr: info.brokerAddrs.get(brokerName) });
  let { qd, addr } = find(await routes.get(topic));
  if (!qd || !addr || queueId >= qd.readQueueNums) ({ qd, addr } = find(await routes.refresh(topic)));
  if (!qd) throw new CirrusError('BROKER_NOT_FOUND', `broker ${brokerName} does not serve topic ${topic}`);
  if (queueId >= qd.readQueueNums) throw new CirrusError('QUEUE_NOT_FOUND', `topic ${topic} has ${qd.readQueueNums} queues on ${brokerName}`);
  if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `broker ${brokerName} is not alive`);
  return addr;
}
