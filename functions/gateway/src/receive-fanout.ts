/**
 * A receive that spans the topic's brokers (DESIGN.md "The consume API"): brokers are asked in
 * turn without waiting until `max` is filled; when none had a message and the caller waits,
 * every broker is long-polled at once and the first non-empty answer is taken. A broker that
 * answers after that leased messages nobody will see: they are released at once (invisibleMs
 * RELEASE_INVISIBLE_MS), never stranded until their lease ends.
 */
import { CirrusError, type PopRequest, type PoppedMessage } from '@cirrusmq/client/protocol';
import type { BrokerTarget } from './broker-route';

export interface FanoutOps {
  pop(target: BrokerTarget, request: PopRequest): Promise<PoppedMessage[]>;
  /** Ends these leases now, so the messages are deliverable again; must not throw (it logs). */
  release(messages: readonly PoppedMessage[]): Promise<void>;
}

/**
 * Up to `request.max` messages from `targets`, starting at `targets[start % n]`. Throws the
 * first broker error only when every broker failed.
 */
export async function receiveAcross(targets: readonly BrokerTarget[], start: number, request: PopRequest, ops: FanoutOps): Promise<PoppedMessage[]> {
  if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${request.topic}`);
  const order = targets.map((_, i) => targets[(start + i) % targets.length]!);
  const got: PoppedMessage[] = [];
  const errors: unknown[] = [];
  for (const target of order) {
    try {
      got.push(...(await ops.pop(target, { ...request, max: request.max - got.length, waitMs: 0 })));
    } catch (e) {
      errors.push(e);
    }
    if (got.length >= request.max) return got;
  }
  if (got.length > 0) return got;
  if (errors.length === order.length) throw errors[0];
  if (request.waitMs <= 0) return [];
  return longPoll(order, request, ops);
}

/** Every broker polled at once; the first non-empty answer wins and later ones are released. */
function longPoll(order: readonly BrokerTarget[], request: PopRequest, ops: FanoutOps): Promise<PoppedMessage[]> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let settled = 0;
    const errors: unknown[] = [];
    const done = () => {
      if (++settled < order.length || answered) return;
      answered = true;
      if (errors.length === order.length) reject(errors[0]);
      else resolve([]);
    };
    for (const target of order) {
      ops.pop(target, request).then(
        (messages) => {
          if (messages.length > 0) {
            if (answered) void ops.release(messages);
            else {
              answered = true;
              resolve(messages);
            }
          }
          done();
        },
        (e: unknown) => {
          errors.push(e);
          done();
        },
      );
    }
  });
}
