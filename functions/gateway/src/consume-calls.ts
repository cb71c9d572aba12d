/**
 * The consume calls a consumer makes per batch (receive, ack, change-invisibility): checks,
 * the broker calls, the answer's bytes and the counters. Served by the Hono routes
 * (routes/consume.ts) and by the process server's hot-route listener (hot-routes.ts); one
 * instance per GatewayDeps, so both share the parked long polls and the receive rotation.
 */
import {
  type AckResponse,
  acceptsPopParts,
  CirrusError,
  type ChangeInvisibilityRequest,
  type ChangeInvisibilityResponse,
  ConsumeLimits,
  type EntryFailure,
  POP_PARTS_TYPE,
  RELEASE_INVISIBLE_MS,
  type RouteCache,
  receiptHandleBroker,
} from '@cirrusmq/client/protocol';
import { parseWith } from './api/check';
import { ChangeInvisibilityRequestSchema, TopicGroupParams } from './api/consume-schemas';
import { type BrokerTarget, topicMasters } from './broker-route';
import { ackInput, receiveInput, topicGroup } from './consume-input';
import type { GatewayDeps } from './deps';
import { type BodyReader, type HttpAnswer, partsAnswer } from './http-answer';
import { type LeasedRecord, splitPopResult } from './pop-records';
import { MESSAGES_BUDGET } from './read-answer';
import { receiveAnswer } from './receive-answer';
import { popPartsAnswer } from './receive-parts';
import { ParkedReceives, receiveAcross } from './receive-fanout';
import { TurnBatcher } from './turn-batcher';

/** Every ROTATE_EVERY-th receive starts its round by rotation even when it carries acks (roundStart). */
const ROTATE_EVERY = 8;

/**
 * Where a receive's round over the brokers starts. One that carries acks starts at the broker
 * its first ack goes to: the ack and the pop then leave in one write, wake that broker once and
 * come back in one answer, where a rotated start costs a second broker a read and a write per
 * batch (the direct SDK does the same: its refill asks again the broker it acks). A broker the
 * sticky start passes over is still asked when the first has fewer than `max`, and every
 * ROTATE_EVERY-th receive rotates, so that when every broker has a backlog, each keeps some
 * of the consumers.
 */
function roundStart(targets: readonly BrokerTarget[], ack: readonly string[] | undefined, receives: number, rotate: () => number): number {
  if (ack === undefined || ack.length === 0 || receives % ROTATE_EVERY === 0) return rotate();
  const name = receiptHandleBroker(ack[0]!);
  const i = targets.findIndex((t) => t.brokerName === name);
  return i < 0 ? rotate() : i;
}

/** The route's path parameters as read (decoded, not yet checked). */
export interface TopicGroupRaw {
  topic: string;
  group: string;
}

export interface ConsumeCalls {
  /** `accept`: the request's Accept header; one listing POP_PARTS_TYPE gets the binary answer (receive-parts.ts). */
  receive(params: TopicGroupRaw, readBody: BodyReader, accept?: string): Promise<HttpAnswer>;
  ack(params: TopicGroupRaw, readBody: BodyReader): Promise<HttpAnswer>;
  changeInvisibility(params: TopicGroupRaw, readBody: BodyReader): Promise<HttpAnswer>;
}

const byDeps = new WeakMap<GatewayDeps, ConsumeCalls>();

/** The calls of this gateway (one set per deps: a Hono app and a hot listener built on the same deps share it). */
export function consumeCalls(deps: GatewayDeps): ConsumeCalls {
  let calls = byDeps.get(deps);
  if (!calls) byDeps.set(deps, (calls = createConsumeCalls(deps)));
  return calls;
}

function createConsumeCalls(deps: GatewayDeps): ConsumeCalls {
  const { routes, brokers, metrics, logger } = deps;
  /** Where a rotated receive starts: consecutive ones begin at different brokers (roundStart). */
  let next = 0;
  let receives = 0;
  const rotate = () => next++;
  // One set per answer form: records handed to a POP_PARTS receive were not CRC-checked here
  // (the SDK checks each record as it decodes it); a JSON answer writes only checked ones.
  const parked = { json: new ParkedReceives<LeasedRecord>(), parts: new ParkedReceives<LeasedRecord>() };
  // The invisibility changes of one turn for one (broker, topic, group): one broker call (turn-batcher.ts).
  const invisibility = new TurnBatcher<BrokerCall, ChangeInvisibilityRequest['entries'][number], ChangeInvisibilityResponse['results'][number]>(
    async (c, entries) => (await brokers.get(c.addr).changeInvisibility({ topic: c.topic, group: c.group, entries })).results,
    ConsumeLimits.MAX_ACK_ENTRIES,
  );
  const changeAt = (addr: string, topic: string, group: string, entries: ChangeInvisibilityRequest['entries']) =>
    invisibility.submit(callKey(addr, topic, group), { addr, topic, group }, entries);

  const release = async (topic: string, group: string, messages: readonly LeasedRecord[]): Promise<void> => {
    const byBroker = groupBy(messages, (m) => m.brokerName);
    await Promise.all(
      [...byBroker].map(async ([brokerName, ms]) => {
        try {
          const addr = (await routes.get(topic)).brokerAddrs.get(brokerName);
          if (!addr) throw new CirrusError('BROKER_UNAVAILABLE', `broker ${brokerName} is not alive`);
          const entries = ms.map((m) => ({ receiptHandle: m.receiptHandle, invisibleMs: RELEASE_INVISIBLE_MS }));
          const results = await changeAt(addr, topic, group, entries);
          const failed = results.filter((r) => r.status !== 'OK').length;
          metrics.messagesReleased += ms.length - failed;
          if (failed > 0)
            throw new CirrusError('INTERNAL', `${failed} of ${ms.length} releases refused: ${JSON.stringify(results.find((r) => r.status !== 'OK'))}`);
        } catch (e) {
          // They come back when their invisibility ends: late, not lost.
          metrics.releaseFailures += ms.length;
          logger.warn('receive: leased messages not released', { topic, group, broker: brokerName, count: ms.length, err: e });
        }
      }),
    );
  };

  /** One broker call for these handles of (topic, group). */
  const ackAt = async (addr: string, topic: string, group: string, receiptHandles: string[]): Promise<AckResults> => {
    metrics.brokerAckCalls++;
    return (await brokers.get(addr).ack({ topic, group, receiptHandles })).results;
  };
  // The acks of one turn for one (broker, topic, group): one broker call (turn-batcher.ts).
  const acks = new TurnBatcher<BrokerCall, string, AckResponse['results'][number]>(
    (c, receiptHandles) => ackAt(c.addr, c.topic, c.group, receiptHandles),
    ConsumeLimits.MAX_ACK_ENTRIES,
  );

  /**
   * Each handle to the broker it names. The ack route's handles share a call with the turn's
   * other acks to that broker. A receive's carried acks (`carriedBy`: the topic's masters) are
   * sent at once instead, so that on each broker's connection they go out ahead of the
   * receive's pop (same writev): a broker serves one connection's requests in order, so an
   * orderly queue's batch is released before the pop is served there, without the pop waiting
   * for the ack's answer.
   */
  const ackHandles = async (topic: string, group: string, receiptHandles: readonly string[], carriedBy?: readonly BrokerTarget[]): Promise<AckResults> => {
    const results = await perBroker(
      routes,
      topic,
      receiptHandles,
      (h) => h,
      carriedBy ? (addr, hs) => ackAt(addr, topic, group, hs) : (addr, hs) => acks.submit(callKey(addr, topic, group), { addr, topic, group }, hs),
      carriedBy,
    );
    for (const r of results) {
      if (r.status === 'OK') metrics.acksOk++;
      else metrics.acksFailed++;
    }
    return results;
  };

  return {
    async receive(params, readBody, accept) {
      const t0 = performance.now();
      let status = 'error';
      try {
        const { topic, group } = topicGroup(params);
        const req = receiveInput(await readBody());
        const binary = acceptsPopParts(accept);
        const targets = topicMasters(await routes.get(topic));
        const acking = req.ack && ackHandles(topic, group, req.ack, targets);
        const popped = await receiveAcross(
          targets,
          roundStart(targets, req.ack, receives++, rotate),
          { topic, group, max: req.max, invisibleMs: req.invisibleSeconds * 1000, waitMs: req.waitSeconds * 1000, filter: req.filter },
          {
            pop: async (target, request, endWait) => splitPopResult(await brokers.get(target.addr).popRaw(request, endWait), target.brokerName, !binary),
            release: (ms) => release(topic, group, ms),
            parked: binary ? parked.parts : parked.json,
          },
        );
        const ackResults = acking && (await acking);
        // Capped to fit a Lambda result; what is left out goes back to the group now.
        const answer = binary ? popPartsAnswer(popped, MESSAGES_BUDGET, ackResults) : receiveAnswer(popped, MESSAGES_BUDGET, ackResults);
        if (answer.count < popped.length) await release(topic, group, popped.slice(answer.count));
        metrics.messagesReceived += answer.count;
        status = answer.count > 0 ? 'messages' : 'empty';
        return 'parts' in answer ? partsAnswer(answer.parts, POP_PARTS_TYPE) : { status: 200, body: answer.body };
      } finally {
        metrics.receiveRequests++;
        metrics.receiveSeconds.observe({ outcome: status }, (performance.now() - t0) / 1000);
      }
    },

    async ack(params, readBody) {
      const { topic, group } = topicGroup(params);
      const { receiptHandles } = ackInput(await readBody());
      metrics.ackRequests++;
      return { status: 200, body: JSON.stringify({ results: await ackHandles(topic, group, receiptHandles) }) };
    },

    async changeInvisibility(params, readBody) {
      const { topic, group } = parseWith(TopicGroupParams, params);
      const { entries } = parseWith(ChangeInvisibilityRequestSchema, await readBody());
      const results = await perBroker(
        routes,
        topic,
        entries,
        (e) => e.receiptHandle,
        (addr, es) =>
          changeAt(
            addr,
            topic,
            group,
            // 0 s is 0 ms, the broker's RELEASE_INVISIBLE_MS: a release, not a lease of no time.
            es.map((e) => ({ receiptHandle: e.receiptHandle, invisibleMs: e.invisibleSeconds * 1000 })),
          ),
      );
      return { status: 200, body: JSON.stringify({ results }) };
    },
  };
}

type EntryResult<R> = R | EntryFailure;
type AckResults = AckResponse['results'];

/** Where a coalesced call goes, and for which (topic, group). */
interface BrokerCall {
  addr: string;
  topic: string;
  group: string;
}

const callKey = (addr: string, topic: string, group: string) => `${addr}\u0000${topic}\u0000${group}`;

/**
 * Each entry sent to the broker its receipt handle names, one request per broker, answered in
 * the entries' order. A handle naming no broker of the topic, or a broker that fails to
 * answer, fails its entries only.
 */
async function perBroker<E, R>(
  routes: RouteCache,
  topic: string,
  entries: readonly E[],
  handleOf: (e: E) => string,
  call: (addr: string, entries: E[]) => Promise<EntryResult<R>[]>,
  /** The topic's masters when the caller has them: then the calls start before the first await. */
  known?: readonly BrokerTarget[],
): Promise<EntryResult<R>[]> {
  const results: EntryResult<R>[] = new Array(entries.length);
  let masters = mastersByName(known ?? topicMasters(await routes.get(topic)));
  const names = entries.map((e) => receiptHandleBroker(handleOf(e)));
  // A handle from a broker the cached route does not know yet: the route is read again once.
  if (names.some((n) => n !== undefined && !masters.has(n))) masters = mastersByName(topicMasters(await routes.refresh(topic)));
  const byAddr = new Map<string, number[]>();
  names.forEach((name, i) => {
    const addr = name === undefined ? undefined : masters.get(name);
    if (addr === undefined) {
      results[i] = fail(
        'INVALID_RECEIPT_HANDLE',
        name === undefined ? 'malformed receipt handle' : `receipt handle names broker ${name}, which does not serve topic ${topic}`,
      );
      return;
    }
    let at = byAddr.get(addr);
    if (!at) byAddr.set(addr, (at = []));
    at.push(i);
  });
  await Promise.all(
    [...byAddr].map(async ([addr, at]) => {
      try {
        const answer = await call(
          addr,
          at.map((i) => entries[i]!),
        );
        if (answer.length !== at.length) throw new CirrusError('INTERNAL', `broker answered ${answer.length} results for ${at.length} entries`);
        at.forEach((i, k) => (results[i] = answer[k]!));
      } catch (e) {
        const err = e instanceof CirrusError ? e : new CirrusError('BROKER_UNAVAILABLE', e instanceof Error ? e.message : String(e));
        for (const i of at) results[i] = fail(err.code, err.message);
      }
    }),
  );
  return results;
}

const fail = (code: string, message: string): EntryFailure => ({ status: 'FAILED', error: { code, message } });

const mastersByName = (targets: readonly BrokerTarget[]) => new Map(targets.map((t) => [t.brokerName, t.addr]));

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(item);
  }
  return out;
}
