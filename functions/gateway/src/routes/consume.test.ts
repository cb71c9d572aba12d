/**
 * The consume routes against scripted brokers (the real broker routes are exercised by
 * test/e2e/consume.test.ts): bad input is refused before any broker call, handles are routed
 * by the broker they name and answered in order, a receive spans brokers, and whatever a
 * broker leased for a receive but is not in its answer is released at once.
 */
import { describe, expect, it } from 'vitest';
import {
  type AckRequest,
  type ChangeInvisibilityRequest,
  CirrusError,
  type ConsumerProgress,
  encodePopResult,
  encodeProperties,
  encodeRecord,
  MessageConst,
  type PopRequest,
  type PoppedMessage,
  recordSize,
  silentLogger,
  stampRecord,
} from '@cirrusmq/client/protocol';
import { waitFor } from '../../../../infra/local/wait-for';
import { createGatewayApp } from '../app';
import type { GatewayDeps } from '../deps';
import { GatewayMetrics } from '../metrics';

interface FakeBroker {
  pops: PopRequest[];
  acks: AckRequest[];
  changes: ChangeInvisibilityRequest[];
  /** Answers a pop; default: nothing. */
  onPop: (req: PopRequest) => Promise<PoppedMessage[]> | PoppedMessage[];
  failAck?: boolean;
  /** When set, an ack is answered only once this resolves. */
  ackGate?: Promise<void>;
  /** progress and resetOffset fail with this when set. */
  down?: CirrusError;
}

let seq = 0;
/** A handle in the broker's format (consume-types.ts receiptHandleBroker); the mac is the broker's business. */
const handle = (broker: string, n = ++seq) => `v1.${Buffer.from(JSON.stringify([broker, 'orders', 0, n, 'billing', 1])).toString('base64url')}.mac${n}`;
const [Ha1, Ha2, Hb1, Hb2, Hb4, Hz3] = [
  handle('broker-a', 901),
  handle('broker-a', 902),
  handle('broker-b', 903),
  handle('broker-b', 904),
  handle('broker-b', 905),
  handle('broker-z', 906),
];
function popped(brokerName: string, queueOffset: number, body = `m${queueOffset}`): PoppedMessage {
  return {
    topic: 'orders',
    queueId: 0,
    queueOffset,
    commitLogOffset: 0,
    sysFlag: 0,
    bornTimestamp: 1,
    storeTimestamp: 2,
    reconsumeTimes: 0,
    body: Buffer.from(body),
    properties: {},
    messageId: `id-${brokerName}-${queueOffset}`,
    keys: [],
    receiptHandle: handle(brokerName),
    deliveryAttempt: 1,
    brokerName,
  };
}

/** A broker's POP answer (POP_RESULT) holding these messages: their records as stored, their leases in the meta. */
function popResultOf(messages: readonly PoppedMessage[]): Buffer {
  const records = messages.map((m) => {
    const properties = encodeProperties({ ...m.properties, [MessageConst.UNIQ_KEY]: m.messageId });
    const size = recordSize(m.body.length, m.topic.length, Buffer.byteLength(properties));
    const buf = Buffer.alloc(size);
    encodeRecord(buf, 0, { queueId: m.queueId, sysFlag: 0, bornTimestamp: m.bornTimestamp, reconsumeTimes: 0, body: m.body, topic: m.topic, properties });
    stampRecord(buf, 0, size, m.queueId, m.queueOffset, m.commitLogOffset, m.storeTimestamp);
    return buf;
  });
  const leases = messages.map((m) => ({ receiptHandle: m.receiptHandle, deliveryAttempt: m.deliveryAttempt, queueId: m.queueId, queueOffset: m.queueOffset }));
  return encodePopResult({ messages: leases }, records);
}

const progressOf = (brokerName: string, topic: string, group: string): ConsumerProgress => ({
  topic,
  group,
  brokerName,
  queues: [1, 0].map((queueId) => ({ queueId, minOffset: 0, maxOffset: 10, committedOffset: 4, cursor: 6, inFlight: 2, lag: 6 })),
  retried: 3,
  deadLettered: 1,
});

function setup(brokerNames = ['broker-a', 'broker-b']) {
  const fakes = new Map<string, FakeBroker>();
  /** Every pop and ack as the brokers saw them, in order: "broker-a pop". */
  const calls: string[] = [];
  for (const name of brokerNames) fakes.set(name, { pops: [], acks: [], changes: [], onPop: () => [] });
  const addrOf = (name: string) => `${name}:1`;
  const info = {
    route: { queueDatas: brokerNames.map((brokerName) => ({ brokerName, readQueueNums: 4, writeQueueNums: 4, perm: 6 })) },
    brokerAddrs: new Map(brokerNames.map((n) => [n, addrOf(n)])),
  };
  const routes = {
    get: async (topic: string) => {
      if (topic !== 'orders') throw new CirrusError('TOPIC_NOT_FOUND', `topic ${topic} not found`);
      return info;
    },
    refresh: async (topic: string) => routes.get(topic),
  };
  const brokers = {
    get: (addr: string) => {
      const f = fakes.get(addr.replace(/:1$/, ''))!;
      return {
        popRaw: async (req: PopRequest) => {
          calls.push(`${addr.replace(/:1$/, '')} pop`);
          f.pops.push(req);
          return popResultOf(await f.onPop(req));
        },
        ack: async (req: AckRequest) => {
          calls.push(`${addr.replace(/:1$/, '')} ack`);
          f.acks.push(req);
          await f.ackGate;
          if (f.failAck) throw new CirrusError('BROKER_UNAVAILABLE', 'down');
          return { results: req.receiptHandles.map(() => ({ status: 'OK' as const })) };
        },
        progress: async (topic: string, group: string) => {
          if (f.down) throw f.down;
          return progressOf(addr.replace(/:1$/, ''), topic, group);
        },
        resetOffset: async (req: { topic: string; group: string }) => {
          if (f.down) throw f.down;
          return progressOf(addr.replace(/:1$/, ''), req.topic, req.group);
        },
        changeInvisibility: async (req: ChangeInvisibilityRequest) => {
          f.changes.push(req);
          return { results: req.entries.map((e) => ({ status: 'OK' as const, receiptHandle: `${e.receiptHandle}+` })) };
        },
      };
    },
  };
  const metrics = new GatewayMetrics();
  const app = createGatewayApp({ logger: silentLogger, metrics, routes, brokers, producer: { nameServerCalls: 0 } } as unknown as GatewayDeps);
  const post = async (path: string, body: unknown) => {
    const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { app, fakes, post, metrics, calls };
}

const RECEIVE = '/v1/topics/orders/groups/billing/receive';
const ACK = '/v1/topics/orders/groups/billing/ack';
const CHANGE = '/v1/topics/orders/groups/billing/change-invisibility';

describe('consume routes: bad input', () => {
  it.each([
    [{ max: 0 }, 'max'],
    [{ max: 33 }, 'max'],
    [{ max: 1.5 }, 'max'],
    [{ max: '4' }, 'max'],
    [{ invisibleSeconds: 0 }, 'invisibleSeconds'],
    [{ invisibleSeconds: 43_201 }, 'invisibleSeconds'],
    [{ waitSeconds: -1 }, 'waitSeconds'],
    [{ waitSeconds: 21 }, 'waitSeconds'],
    [{ filter: 'A ||' }, 'filter'],
  ])('receive %j is a 400 INVALID_PARAMETER, no broker asked', async (body, field) => {
    const { post, fakes } = setup();
    const res = await post(RECEIVE, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_PARAMETER');
    if (field !== 'filter') expect(res.body.error.message).toContain(field);
    expect([...fakes.values()].every((f) => f.pops.length === 0)).toBe(true);
  });

  it.each(['rmq_sys_x', '%25DLQ%25x', 'a.b', 'x'.repeat(65)])('group %s is a 400 INVALID_GROUP', async (group) => {
    const { post } = setup();
    const res = await post(`/v1/topics/orders/groups/${group}/receive`, {});
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_GROUP');
  });

  it('an unknown topic is a 404 TOPIC_NOT_FOUND', async () => {
    const { post } = setup();
    for (const path of ['/v1/topics/nope/groups/billing/receive', '/v1/topics/nope/groups/billing/ack']) {
      const res = await post(path, path.endsWith('receive') ? {} : { receiptHandles: [Ha1] });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('TOPIC_NOT_FOUND');
    }
  });

  it('empty and oversized handle lists, and a negative, fractional or too long invisibility, are 400s', async () => {
    const { post } = setup();
    for (const [path, body] of [
      [ACK, { receiptHandles: [] }],
      [ACK, { receiptHandles: Array.from({ length: 101 }, (_, i) => handle('broker-a', i)) }],
      [ACK, {}],
      [ACK, { receiptHandles: [''] }],
      [CHANGE, { entries: [] }],
      [CHANGE, { entries: [{ receiptHandle: Ha1, invisibleSeconds: -1 }] }],
      [CHANGE, { entries: [{ receiptHandle: Ha1, invisibleSeconds: 0.5 }] }],
      [CHANGE, { entries: [{ receiptHandle: Ha1, invisibleSeconds: 43_201 }] }],
    ] as const) {
      const res = await post(path, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.code).toBe('INVALID_PARAMETER');
    }
    // 100 is the limit, not beyond it.
    expect((await post(ACK, { receiptHandles: Array.from({ length: 100 }, (_, i) => handle('broker-a', i)) })).status).toBe(200);
  });

  it('a body that is not JSON is a 400 INVALID_JSON', async () => {
    const { app } = setup();
    const res = await app.request(RECEIVE, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"max":' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('INVALID_JSON');
  });
});

describe('consume routes: receipt handles', () => {
  it('ack sends each handle to the broker it names and answers in order; a handle naming no broker fails alone', async () => {
    const { post, fakes, metrics } = setup();
    const handles = [Hb1, 'forged', Ha2, Hz3, Hb4, 'v1.!!.x'];
    const res = await post(ACK, { receiptHandles: handles });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: any) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual([
      'OK',
      'INVALID_RECEIPT_HANDLE',
      'OK',
      'INVALID_RECEIPT_HANDLE',
      'OK',
      'INVALID_RECEIPT_HANDLE',
    ]);
    expect(fakes.get('broker-a')!.acks).toEqual([{ topic: 'orders', group: 'billing', receiptHandles: [Ha2] }]);
    expect(fakes.get('broker-b')!.acks).toEqual([{ topic: 'orders', group: 'billing', receiptHandles: [Hb1, Hb4] }]);
    expect([metrics.acksOk, metrics.acksFailed]).toEqual([3, 3]);
  });

  it("a receive's acks reach their brokers before its pop, and the pop does not wait for their answers", async () => {
    const { post, fakes, calls } = setup();
    let openGate!: () => void;
    fakes.get('broker-a')!.ackGate = new Promise<void>((resolve) => (openGate = resolve));
    fakes.get('broker-a')!.onPop = () => [popped('broker-a', 5)];
    const answer = post(RECEIVE, { max: 1, ack: [Hb1, Ha2] });
    await waitFor('the pop', 5_000, async () => calls.some((c) => c.endsWith('pop')), 5);
    expect(calls.slice(0, 2).sort()).toEqual(['broker-a ack', 'broker-b ack']);
    expect(calls[2]).toMatch(/ pop$/);
    openGate();
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.ackResults).toEqual([{ status: 'OK' }, { status: 'OK' }]);
    expect(res.body.messages).toHaveLength(1);
  });

  it('a broker that fails fails only its own entries', async () => {
    const { post, fakes } = setup();
    fakes.get('broker-a')!.failAck = true;
    const res = await post(ACK, { receiptHandles: [Ha1, Hb2] });
    expect(res.body.results).toEqual([{ status: 'FAILED', error: { code: 'BROKER_UNAVAILABLE', message: 'down' } }, { status: 'OK' }]);
  });

  it('acks of one turn go to each broker as one call; each request gets its own results, a failing broker fails only its entries', async () => {
    const { post, fakes, metrics } = setup();
    fakes.get('broker-b')!.failAck = true;
    const [Ha3, Ha4] = [handle('broker-a', 907), handle('broker-a', 908)];
    const answers = await Promise.all([
      post(ACK, { receiptHandles: [Ha1, Hb1] }),
      post(ACK, { receiptHandles: [Ha2] }),
      post(ACK, { receiptHandles: [Hb2, Ha3, Ha4] }),
    ]);
    expect(fakes.get('broker-a')!.acks).toEqual([{ topic: 'orders', group: 'billing', receiptHandles: [Ha1, Ha2, Ha3, Ha4] }]);
    expect(fakes.get('broker-b')!.acks).toEqual([{ topic: 'orders', group: 'billing', receiptHandles: [Hb1, Hb2] }]);
    const down = { status: 'FAILED', error: { code: 'BROKER_UNAVAILABLE', message: 'down' } };
    expect(answers.map((a) => a.body.results)).toEqual([[{ status: 'OK' }, down], [{ status: 'OK' }], [down, { status: 'OK' }, { status: 'OK' }]]);
    expect([metrics.ackRequests, metrics.brokerAckCalls]).toEqual([3, 2]);
  });

  it('invisibility changes of one turn go to a broker as one call, each request answered its new handles', async () => {
    const { post, fakes } = setup();
    const answers = await Promise.all([
      post(CHANGE, { entries: [{ receiptHandle: Ha1, invisibleSeconds: 5 }] }),
      post(CHANGE, { entries: [{ receiptHandle: Ha2, invisibleSeconds: 60 }] }),
    ]);
    expect(fakes.get('broker-a')!.changes).toEqual([
      {
        topic: 'orders',
        group: 'billing',
        entries: [
          { receiptHandle: Ha1, invisibleMs: 5_000 },
          { receiptHandle: Ha2, invisibleMs: 60_000 },
        ],
      },
    ]);
    expect(answers.map((a) => a.body.results)).toEqual([[{ status: 'OK', receiptHandle: `${Ha1}+` }], [{ status: 'OK', receiptHandle: `${Ha2}+` }]]);
  });

  it('change-invisibility converts seconds to ms and answers the new handles in order', async () => {
    const { post, fakes } = setup();
    const res = await post(CHANGE, {
      entries: [
        { receiptHandle: Hb1, invisibleSeconds: 60 },
        { receiptHandle: 'junk', invisibleSeconds: 5 },
        { receiptHandle: Ha2, invisibleSeconds: 5 },
      ],
    });
    expect(res.body.results).toEqual([
      { status: 'OK', receiptHandle: `${Hb1}+` },
      { status: 'FAILED', error: { code: 'INVALID_RECEIPT_HANDLE', message: 'malformed receipt handle' } },
      { status: 'OK', receiptHandle: `${Ha2}+` },
    ]);
    expect(fakes.get('broker-b')!.changes[0]!.entries).toEqual([{ receiptHandle: Hb1, invisibleMs: 60_000 }]);
  });
});

describe('consume routes: receive across brokers', () => {
  it('fills max from the brokers in turn, starting at a rotating broker, and answers the full message shape', async () => {
    const { post, fakes } = setup();
    let offA = 0;
    let offB = 100;
    fakes.get('broker-a')!.onPop = (req) => Array.from({ length: Math.min(req.max, 2) }, () => popped('broker-a', offA++));
    fakes.get('broker-b')!.onPop = (req) => Array.from({ length: req.max }, () => popped('broker-b', offB++));
    const first = await post(RECEIVE, { max: 4, invisibleSeconds: 10 });
    expect(first.status).toBe(200);
    expect(first.body.messages.map((m: any) => `${m.broker}/${m.queueOffset}`)).toEqual(['broker-a/0', 'broker-a/1', 'broker-b/100', 'broker-b/101']);
    expect(fakes.get('broker-b')!.pops[0]).toMatchObject({ topic: 'orders', group: 'billing', max: 2, invisibleMs: 10_000, waitMs: 0 });
    expect(Object.keys(first.body.messages[0])).toEqual([
      'messageId',
      'receiptHandle',
      'deliveryAttempt',
      'body',
      'bodyEncoding',
      'keys',
      'properties',
      'broker',
      'queueId',
      'queueOffset',
      'bornTimestamp',
      'storeTimestamp',
    ]);
    // The next receive starts at broker-b, which fills it alone.
    const second = await post(RECEIVE, { max: 4 });
    expect(second.body.messages.map((m: any) => m.broker)).toEqual(['broker-b', 'broker-b', 'broker-b', 'broker-b']);
    expect(fakes.get('broker-a')!.pops).toHaveLength(1);
  });

  it('long polls every broker; the first answer wins and what another broker leased later is released at once', async () => {
    const { post, fakes, metrics } = setup();
    const late: { resolve?: (m: PoppedMessage[]) => void } = {};
    let leasedByB: PoppedMessage[] = [];
    fakes.get('broker-a')!.onPop = (req) => (req.waitMs === 0 ? [] : new Promise((r) => setTimeout(() => r([popped('broker-a', 7)]), 20)));
    fakes.get('broker-b')!.onPop = (req) => (req.waitMs === 0 ? [] : new Promise((r) => (late.resolve = r)));
    const res = await post(RECEIVE, { max: 2, waitSeconds: 5 });
    expect(res.body.messages.map((m: any) => m.messageId)).toEqual(['id-broker-a-7']);
    expect(fakes.get('broker-b')!.pops.map((p) => p.waitMs)).toEqual([0, 5000]);
    // broker-b's poll ends after the answer, with two messages it leased for this receive.
    leasedByB = [popped('broker-b', 1), popped('broker-b', 2)];
    late.resolve!(leasedByB);
    await waitFor('the release', 5_000, async () => fakes.get('broker-b')!.changes.length === 1, 5);
    expect(fakes.get('broker-b')!.changes[0]).toEqual({
      topic: 'orders',
      group: 'billing',
      entries: leasedByB.map((m) => ({ receiptHandle: m.receiptHandle, invisibleMs: 0 })),
    });
    expect(metrics.messagesReleased).toBe(2);
  });

  it('a late answer goes to another receive of the group parked in the gateway instead of being released', async () => {
    const { post, fakes, metrics } = setup();
    let aPolls = 0;
    const bPolls: ((m: PoppedMessage[]) => void)[] = [];
    // broker-a answers the first long poll, never the second; broker-b answers only when told.
    fakes.get('broker-a')!.onPop = (req) => (req.waitMs === 0 ? [] : ++aPolls === 1 ? [popped('broker-a', 1)] : new Promise(() => {}));
    fakes.get('broker-b')!.onPop = (req) => (req.waitMs === 0 ? [] : new Promise((r) => bPolls.push(r)));
    const first = await post(RECEIVE, { max: 4, waitSeconds: 5 });
    expect(first.body.messages.map((m: any) => m.broker)).toEqual(['broker-a']);
    const second = post(RECEIVE, { max: 4, waitSeconds: 5 });
    await waitFor('the second receive parked on broker-b', 5_000, async () => bPolls.length === 2, 5);
    // broker-b's poll for the first receive (answered already) comes back with two leases.
    const late = [popped('broker-b', 10), popped('broker-b', 11)];
    bPolls[0]!(late);
    expect((await second).body.messages.map((m: any) => m.receiptHandle)).toEqual(late.map((m) => m.receiptHandle));
    expect(fakes.get('broker-b')!.changes).toEqual([]);
    expect(metrics.messagesReleased).toBe(0);
    // The second receive's own poll on broker-b, answered later, has no one to go to: released.
    bPolls[1]!([popped('broker-b', 12)]);
    await waitFor('the release', 5_000, async () => fakes.get('broker-b')!.changes.length === 1, 5);
  });

  it('answers an empty list when every broker is empty; an error only when every broker failed', async () => {
    const { post, fakes } = setup();
    expect((await post(RECEIVE, {})).body).toEqual({ messages: [] });
    fakes.get('broker-a')!.onPop = () => {
      throw new CirrusError('BROKER_UNAVAILABLE', 'a down');
    };
    expect((await post(RECEIVE, { waitSeconds: 1 })).body).toEqual({ messages: [] });
    fakes.get('broker-b')!.onPop = () => {
      throw new CirrusError('BROKER_UNAVAILABLE', 'b down');
    };
    const res = await post(RECEIVE, {});
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('BROKER_UNAVAILABLE');
  });
});

describe('consume routes: answer size, progress, reset, metrics', () => {
  it('an answer over a Lambda result keeps what fits and releases the rest at once', async () => {
    const { post, fakes, metrics } = setup(['broker-a']);
    const big = 'x'.repeat(4 * 1024 * 1024);
    const leased = [popped('broker-a', 0, big), popped('broker-a', 1, big)];
    fakes.get('broker-a')!.onPop = () => leased;
    const res = await post(RECEIVE, { max: 2 });
    expect(res.body.messages.map((m: any) => m.queueOffset)).toEqual([0]);
    expect(fakes.get('broker-a')!.changes).toEqual([
      { topic: 'orders', group: 'billing', entries: [{ receiptHandle: leased[1]!.receiptHandle, invisibleMs: 0 }] },
    ]);
    expect(metrics.messagesReleased).toBe(1);
  });

  it('progress sums the brokers, sorts queues, and names a broker that did not answer', async () => {
    const { app, fakes } = setup();
    let res = await app.request('/v1/topics/orders/groups/billing');
    let body = (await res.json()) as any;
    expect(body.queues.map((q: any) => `${q.broker}/${q.queueId}`)).toEqual(['broker-a/0', 'broker-a/1', 'broker-b/0', 'broker-b/1']);
    expect(body.totals).toEqual({ maxOffset: 40, committedOffset: 16, inFlight: 8, lag: 24 });
    expect([body.retried, body.deadLettered, body.unreachableBrokers]).toEqual([6, 2, undefined]);
    fakes.get('broker-b')!.down = new CirrusError('BROKER_UNAVAILABLE', 'down');
    body = (await (await app.request('/v1/topics/orders/groups/billing')).json()) as any;
    expect([body.queues.length, body.unreachableBrokers]).toEqual([2, ['broker-b']]);
    fakes.get('broker-a')!.down = new CirrusError('BROKER_UNAVAILABLE', 'down');
    res = await app.request('/v1/topics/orders/groups/billing');
    expect(res.status).toBe(503);
  });

  it('reset goes to every broker; one that fails makes it a 503 to retry', async () => {
    const { post, fakes } = setup();
    const bad = await post('/v1/topics/orders/groups/billing/reset', { to: 'yesterday' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'INVALID_PARAMETER']);
    expect((await post('/v1/topics/orders/groups/billing/reset', { to: 'earliest' })).body.queues).toHaveLength(4);
    fakes.get('broker-b')!.down = new CirrusError('TIMEOUT', 'slow');
    const res = await post('/v1/topics/orders/groups/billing/reset', { to: 1_700_000_000_000 });
    expect([res.status, res.body.error.code]).toEqual([503, 'BROKER_UNAVAILABLE']);
    expect(res.body.error.message).toContain('broker-b');
  });

  it('counts receives, messages, acks and times receives in /metrics', async () => {
    const { app, post, fakes } = setup(['broker-a']);
    fakes.get('broker-a')!.onPop = () => [popped('broker-a', 0)];
    await post(RECEIVE, {});
    await post(ACK, { receiptHandles: [Ha1, 'junk'] });
    const text = await (await app.request('/metrics')).text();
    expect(text).toMatch(/^cirrusmq_gateway_receive_requests_total 1$/m);
    expect(text).toMatch(/^cirrusmq_gateway_messages_received_total 1$/m);
    expect(text).toMatch(/^cirrusmq_gateway_acks_ok_total 1$/m);
    expect(text).toMatch(/^cirrusmq_gateway_acks_failed_total 1$/m);
    expect(text).toMatch(/^cirrusmq_gateway_receive_duration_seconds_count\{outcome="messages"\} 1$/m);
  });
});
