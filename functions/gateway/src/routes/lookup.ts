/**
 * Lookups over every broker that may hold the message, through each broker's key index:
 *
 *   GET /v1/topics/{topic}/messages/by-key/{key}?begin=&end=&max=
 *       asks every broker in the topic's route, merges, sorts by storeTimestamp and keeps
 *       the newest `max` (oldest first in the answer)
 *   GET /v1/messages/{messageId}
 *       the id has no topic, so every live broker of the NameServer's cluster list is asked;
 *       404 MESSAGE_NOT_FOUND when none has it
 *
 * Messages are JSON as the read route writes them, with topic, broker and queueId added.
 * A broker that fails is left out and named in "unreachableBrokers"; when every broker
 * fails, the first failure is the answer.
 */
import type { Context, Hono } from 'hono';
import { CirrusError, Limits, MASTER_ID, type MessageExt, parseLookupRange, toCirrusError, validateLookupKey, validateTopic } from '@cirrusmq/client/protocol';
import type { GatewayDeps } from '../deps';
import { messageToJson } from '../message-json';
import { capMessages, MESSAGES_BUDGET } from '../read-answer';

interface BrokerTarget {
  brokerName: string;
  addr: string;
}

interface Found {
  broker: string;
  message: MessageExt;
}

export function lookupRoutes(app: Hono, { producer, nameServer, brokers, logger }: GatewayDeps): void {
  app.get('/v1/topics/:topic/messages/by-key/:key', async (c) => {
    const topic = validateTopic(c.req.param('topic'));
    const key = validateLookupKey('key', c.req.param('key'));
    const { begin, end, max } = parseLookupRange({ begin: c.req.query('begin'), end: c.req.query('end'), max: c.req.query('max') });
    const { route } = await producer.routes.get(topic);
    const targets: BrokerTarget[] = [];
    for (const qd of route.queueDatas) {
      const addr = route.brokerDatas.find((b) => b.brokerName === qd.brokerName)?.brokerAddrs[String(MASTER_ID)];
      if (addr) targets.push({ brokerName: qd.brokerName, addr });
    }
    if (targets.length === 0) throw new CirrusError('NO_ROUTE', `no live broker serves topic ${topic}`);
    const { found, unreachable } = await askAll(targets, (b) => brokers.get(b.addr).queryMessage(topic, key, { begin, end, max }), logger);
    found.sort((a, b) => a.message.storeTimestamp - b.message.storeTimestamp || a.message.commitLogOffset - b.message.commitLogOffset);
    // Newest first into the capped answer, so a cut drops the oldest; answered oldest first.
    return answer(c, found.slice(Math.max(0, found.length - max)).reverse(), unreachable, true);
  });

  app.get('/v1/messages/:messageId', async (c) => {
    const messageId = validateLookupKey('messageId', c.req.param('messageId'));
    const seen = new Set<string>();
    const targets: BrokerTarget[] = [];
    for (const b of await nameServer.getCluster()) {
      if (!b.alive || seen.has(b.addr)) continue;
      seen.add(b.addr);
      targets.push({ brokerName: b.brokerName, addr: b.addr });
    }
    if (targets.length === 0) throw new CirrusError('NO_LIVE_BROKER', 'no live broker to ask');
    const { found, unreachable } = await askAll(targets, (b) => brokers.get(b.addr).viewMessage(messageId), logger);
    if (found.length === 0 && unreachable.length === 0) throw new CirrusError('MESSAGE_NOT_FOUND', `no broker holds message ${messageId}`);
    if (found.length === 0) {
      throw new CirrusError('BROKER_UNAVAILABLE', `message ${messageId} is on no broker that answered; unreachable: ${unreachable.join(', ')}`);
    }
    found.sort((a, b) => a.message.storeTimestamp - b.message.storeTimestamp);
    return answer(c, found.slice(0, Limits.MAX_READ_BATCH), unreachable, false);
  });
}

/** Asks every broker at once; failures are collected, and thrown only when all failed. */
async function askAll(targets: BrokerTarget[], ask: (b: BrokerTarget) => Promise<MessageExt[]>, logger: GatewayDeps['logger']): Promise<{ found: Found[]; unreachable: string[] }> {
  const settled = await Promise.allSettled(targets.map(ask));
  const found: Found[] = [];
  const unreachable: string[] = [];
  let firstError: CirrusError | undefined;
  settled.forEach((s, i) => {
    const broker = targets[i]!.brokerName;
    if (s.status === 'fulfilled') {
      for (const message of s.value) found.push({ broker, message });
    } else {
      const err = toCirrusError(s.reason);
      // A caller error (a bad parameter) is the same on every broker: answer it.
      if (err.status < 500) throw err;
      firstError ??= err;
      unreachable.push(broker);
      logger.warn('lookup: broker failed', { broker, err });
    }
  });
  if (found.length === 0 && firstError && unreachable.length === targets.length) throw firstError;
  return { found, unreachable };
}

/**
 * The answer, capped to fit a Lambda result (read-answer.ts): `found` in order of preference,
 * answered oldest first (`reversed`: `found` is newest first). When messages were left out,
 * "truncated" is true: a by-key lookup continues with end = the oldest storeTimestamp answered.
 */
function answer(c: Context, found: Found[], unreachable: string[], reversed: boolean): Response {
  const encode = (f: Found, base64: boolean) =>
    JSON.stringify({ ...messageToJson(f.message, base64), topic: f.message.topic, broker: f.broker, queueId: f.message.queueId });
  const kept = capMessages(found, encode, MESSAGES_BUDGET);
  if (reversed) kept.reverse();
  let text = `{"messages":[${kept.join(',')}]`;
  if (unreachable.length > 0) text += `,"unreachableBrokers":${JSON.stringify(unreachable)}`;
  if (kept.length < found.length) text += ',"truncated":true';
  return c.body(text + '}', 200, { 'Content-Type': 'application/json' });
}
