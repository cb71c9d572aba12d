/**
 * A topic's route as RocketMQ 5 clients see it (Apache's ProxyTopicRouteData): every broker's
 * address is replaced by the endpoints the client used, because clients talk only to the
 * proxy. Queue ids are the brokers' real queue ids (queue i is readable below readQueueNums
 * and writable below writeQueueNums); Apache's synthetic numbering (read-only, write-only,
 * then read-write queues) gives the same ids whenever the two counts are equal, as CirrusMQ's
 * are, and the consumer RPCs then need no id translation.
 */
import { MASTER_ID, Perm, type TopicRouteData } from '@cirrusmq/client/protocol';

export type Permission = 'NONE' | 'READ' | 'WRITE' | 'READ_WRITE';

/**
 * CirrusMQ topics hold any kind (RocketMQ's MIXED): the client's type check passes, and the
 * send answers UNSUPPORTED for the kinds CirrusMQ cannot store yet, a clearer failure than
 * the client's local TypeError.
 */
export const ACCEPT_MESSAGE_TYPES = ['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION'];

export interface Endpoints {
  scheme: string;
  addresses: { host: string; port: number }[];
}

export interface MessageQueuePb {
  topic: { resource_namespace: string; name: string };
  id: number;
  permission: Permission;
  broker: { name: string; id: number; endpoints: Endpoints };
  accept_message_types: string[];
}

export function permissionOf(perm: number): Permission {
  const r = (perm & Perm.READ) !== 0;
  const w = (perm & Perm.WRITE) !== 0;
  return r && w ? 'READ_WRITE' : r ? 'READ' : w ? 'WRITE' : 'NONE';
}

/** Brokers of the route that have a master address (a route may list a broker whose master is gone). */
function liveQueueDatas(route: TopicRouteData) {
  const live = new Set(route.brokerDatas.filter((b) => b.brokerAddrs[String(MASTER_ID)]).map((b) => b.brokerName));
  return [...route.queueDatas].filter((q) => live.has(q.brokerName)).sort((a, b) => a.brokerName.localeCompare(b.brokerName));
}

function queue(topic: string, namespace: string, brokerName: string, id: number, permission: Permission, endpoints: Endpoints): MessageQueuePb {
  return {
    topic: { resource_namespace: namespace, name: topic },
    id,
    permission,
    broker: { name: brokerName, id: MASTER_ID, endpoints },
    accept_message_types: ACCEPT_MESSAGE_TYPES,
  };
}

/** QueryRoute's message_queues: every queue of every live broker. */
export function routeMessageQueues(route: TopicRouteData, endpoints: Endpoints, namespace = ''): MessageQueuePb[] {
  const out: MessageQueuePb[] = [];
  for (const qd of liveQueueDatas(route)) {
    const n = Math.max(qd.readQueueNums, qd.writeQueueNums);
    for (let i = 0; i < n; i++) {
      let perm = qd.perm;
      if (i >= qd.readQueueNums) perm &= ~Perm.READ;
      if (i >= qd.writeQueueNums) perm &= ~Perm.WRITE;
      out.push(queue(route.topic, namespace, qd.brokerName, i, permissionOf(perm), endpoints));
    }
  }
  return out;
}

/**
 * QueryAssignment's queues (Apache's RouteActivity.queryAssignment), readable brokers only:
 * a FIFO group gets one per read queue (a FIFO queue is consumed by one client at a time);
 * any other group one per broker with queue id -1, since a receive pops every queue of the
 * broker it names.
 */
export function assignmentQueues(route: TopicRouteData, endpoints: Endpoints, fifo: boolean, namespace = ''): MessageQueuePb[] {
  const out: MessageQueuePb[] = [];
  for (const qd of liveQueueDatas(route)) {
    if ((qd.perm & Perm.READ) === 0 || qd.readQueueNums === 0) continue;
    const permission = permissionOf(qd.perm);
    if (!fifo) out.push(queue(route.topic, namespace, qd.brokerName, -1, permission, endpoints));
    else for (let i = 0; i < qd.readQueueNums; i++) out.push(queue(route.topic, namespace, qd.brokerName, i, permission, endpoints));
  }
  return out;
}
