import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CirrusError, ConsumeLimits, DlqProperties, type PopRequest } from '@cirrusmq/client/protocol';
import { waitFor } from '../../../infra/local/wait-for';
import { PopFixture } from '../testing/pop-fixture';

let f: PopFixture;

beforeEach(async () => {
  f = await new PopFixture().start();
  f.nameServer.addTopic('Orders', 4);
  f.nameServer.addTopic('One', 1);
});

afterEach(async () => {
  await f.close();
});

const pop = (r: Partial<PopRequest> = {}) => f.client.pop({ topic: 'Orders', group: 'g1', max: 32, invisibleMs: 30_000, waitMs: 0, ...r }, 'broker-a');

async function errorOf(p: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CirrusError) return { code: e.code, status: e.status };
    throw e;
  }
  throw new Error('expected a failure');
}

async function sendSpread(n: number, topic = 'Orders', queues = 4): Promise<void> {
  for (let i = 0; i < n; i++) await f.send(topic, i % queues, [`m${i}`]);
}

describe('POP over HTTP', () => {
  it('delivers each message of every queue once, acks them, and the committed offsets reach the end', async () => {
    await sendSpread(10);
    const got = await pop();
    expect(got.map((m) => m.body.toString()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
    expect(got.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect(await pop()).toHaveLength(0);
    let progress = await f.client.progress('Orders', 'g1');
    expect(progress.queues.reduce((s, q) => s + q.inFlight, 0)).toBe(10);
    expect(progress.queues.every((q) => q.committedOffset === 0)).toBe(true);
    const acked = await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: got.map((m) => m.receiptHandle) });
    expect(acked.results.every((r) => r.status === 'OK')).toBe(true);
    progress = await f.client.progress('Orders', 'g1');
    expect(progress.queues.map((q) => [q.committedOffset, q.maxOffset, q.inFlight, q.lag])).toEqual([
      [3, 3, 0, 0],
      [3, 3, 0, 0],
      [2, 2, 0, 0],
      [2, 2, 0, 0],
    ]);
  });

  it('times receives and acks into /metrics by result', async () => {
    await sendSpread(1);
    const [m] = await pop();
    await pop();
    await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: [m!.receiptHandle] });
    await pop({ topic: 'Nope' }).catch(() => undefined);
    const text = await (await fetch(`http://${f.client.addr}/metrics`)).text();
    const count = (name: string, result: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}_count{`) && l.includes(`result="${result}"`) && l.includes('broker="broker-a"'))
        .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    for (const result of ['FOUND', 'NO_NEW_MSG', 'TOPIC_NOT_FOUND']) expect(count('cirrusmq_broker_pop_duration_seconds', result), result).toEqual([1]);
    expect(count('cirrusmq_broker_ack_duration_seconds', 'OK')).toEqual([1]);
  });

  it('gives every group each message, and max bounds a receive', async () => {
    await sendSpread(6);
    const a = await pop({ group: 'ga', max: 4 });
    const a2 = await pop({ group: 'ga', max: 4 });
    const b = await pop({ group: 'gb' });
    expect(a).toHaveLength(4);
    expect(a2).toHaveLength(2);
    expect(b).toHaveLength(6);
    expect(new Set([...a, ...a2].map((m) => m.messageId)).size).toBe(6);
  });

  it('answers each bad handle per entry: edited or forged INVALID_RECEIPT_HANDLE, acked or changed RECEIPT_HANDLE_EXPIRED', async () => {
    await sendSpread(3);
    const [m1, m2, m3] = await pop();
    const h1 = m1!.receiptHandle;
    const [v, broker, body] = h1.split('.');
    const bytes = Buffer.from(body!, 'base64url');
    bytes[7]! ^= 1; // the queue offset's low byte: another message of the queue
    const edited = `${v}.${broker}.${bytes.toString('base64url')}`;
    const res = await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: [edited, 'garbage', h1, h1] });
    expect(res.results.map((r) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual([
      'INVALID_RECEIPT_HANDLE',
      'INVALID_RECEIPT_HANDLE',
      'OK',
      'RECEIPT_HANDLE_EXPIRED',
    ]);
    // A handle of another group is not this group's to ack.
    const other = await f.client.ack({ topic: 'Orders', group: 'g2', receiptHandles: [m2!.receiptHandle] });
    expect(other.results[0]).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_RECEIPT_HANDLE' } });
    const changed = await f.client.changeInvisibility({ topic: 'Orders', group: 'g1', entries: [{ receiptHandle: m2!.receiptHandle, invisibleMs: 60_000 }] });
    const r0 = changed.results[0]!;
    if (r0.status !== 'OK') throw new Error(r0.error.code);
    expect(r0.receiptHandle).not.toBe(m2!.receiptHandle);
    const old = await f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: [m2!.receiptHandle, r0.receiptHandle, m3!.receiptHandle] });
    expect(old.results.map((r) => (r.status === 'OK' ? 'OK' : r.error.code))).toEqual(['RECEIPT_HANDLE_EXPIRED', 'OK', 'OK']);
  });

  it('a release (invisibleMs 0) makes the message deliverable at once, without counting the attempt, and wakes a waiting receive', async () => {
    await f.send('One', 0, ['r']);
    const [m] = await pop({ topic: 'One' });
    const waiting = pop({ topic: 'One', waitMs: 10_000 });
    await waitFor('a parked receive', 5_000, async () => f.popService.polling.parked() === 1, 5);
    const res = await f.client.changeInvisibility({ topic: 'One', group: 'g1', entries: [{ receiptHandle: m!.receiptHandle, invisibleMs: 0 }] });
    expect(res.results[0]!.status).toBe('OK');
    const again = await waiting;
    expect(again.map((x) => [x.queueOffset, x.deliveryAttempt])).toEqual([[0, 1]]);
    expect((await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [m!.receiptHandle] })).results[0]).toMatchObject({
      error: { code: 'RECEIPT_HANDLE_EXPIRED' },
    });
    expect((await f.client.progress('One', 'g1')).retried).toBe(0);
  });

  it('refuses bad input with clear errors and keeps serving', async () => {
    expect(await errorOf(pop({ topic: 'Nope' }))).toEqual({ code: 'TOPIC_NOT_FOUND', status: 404 });
    expect(await errorOf(pop({ group: 'bad group' }))).toMatchObject({ code: 'INVALID_GROUP', status: 400 });
    expect(await errorOf(pop({ group: '%DLQ%x' }))).toMatchObject({ code: 'INVALID_GROUP', status: 400 });
    expect(await errorOf(pop({ max: 0 }))).toMatchObject({ status: 400 });
    expect(await errorOf(pop({ max: ConsumeLimits.MAX_RECEIVE + 1 }))).toMatchObject({ status: 400 });
    expect(await errorOf(pop({ invisibleMs: ConsumeLimits.MIN_INVISIBLE_MS - 1 }))).toMatchObject({ status: 400 });
    expect(await errorOf(pop({ waitMs: ConsumeLimits.MAX_WAIT_MS + 1 }))).toMatchObject({ status: 400 });
    expect(await errorOf(f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: [] }))).toMatchObject({ status: 400 });
    expect(await errorOf(f.client.ack({ topic: 'Orders', group: 'g1', receiptHandles: Array(ConsumeLimits.MAX_ACK_ENTRIES + 1).fill('x') }))).toMatchObject({
      status: 400,
    });
    await sendSpread(1);
    expect(await pop()).toHaveLength(1);
  });

  it('redelivers an unacked message after its invisibility, attempt 2, without holding back the next ones; the committed offset waits for it', async () => {
    await sendSpread(3, 'One', 1);
    const first = await pop({ topic: 'One', max: 1, invisibleMs: 1_000 });
    expect(first.map((m) => [m.queueOffset, m.deliveryAttempt])).toEqual([[0, 1]]);
    const rest = await pop({ topic: 'One' });
    expect(rest.map((m) => m.queueOffset)).toEqual([1, 2]);
    await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: rest.map((m) => m.receiptHandle) });
    expect((await f.client.progress('One', 'g1')).queues[0]).toMatchObject({ committedOffset: 0, cursor: 3, inFlight: 1 });
    // A long-polling receive is woken by the expiry, not by its own timeout.
    const t0 = Date.now();
    const again = await pop({ topic: 'One', waitMs: 10_000 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(again.map((m) => [m.queueOffset, m.deliveryAttempt])).toEqual([[0, 2]]);
    expect((await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [first[0]!.receiptHandle] })).results[0]).toMatchObject({
      error: { code: 'RECEIPT_HANDLE_EXPIRED' },
    });
    await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [again[0]!.receiptHandle] });
    const p = await f.client.progress('One', 'g1');
    expect(p.queues[0]).toMatchObject({ committedOffset: 3, inFlight: 0, lag: 0 });
    expect(p.retried).toBe(1);
  });

  it('sends a message to %DLQ%{group} after retryMaxTimes + 1 deliveries and resolves it', async () => {
    f.groups.put('g1', { retryMaxTimes: 1 });
    f.nameServer.addTopic('%DLQ%g1', 1);
    await f.send('One', 0, [{ body: 'poison', tags: 'T', keys: ['k'] }]);
    const d1 = await pop({ topic: 'One', invisibleMs: 1_000 });
    expect(d1[0]!.deliveryAttempt).toBe(1);
    const d2 = await pop({ topic: 'One', invisibleMs: 1_000, waitMs: 10_000 });
    expect(d2[0]!.deliveryAttempt).toBe(2);
    await waitFor('the dead letter', 10_000, async () => (await f.client.progress('One', 'g1')).deadLettered === 1);
    expect((await f.client.progress('One', 'g1')).queues[0]).toMatchObject({ committedOffset: 1, inFlight: 0 });
    expect(await pop({ topic: 'One' })).toHaveLength(0);
    const dead = await f.client.pop({ topic: '%DLQ%g1', group: 'dlq-reader', max: 32, invisibleMs: 30_000, waitMs: 0 }, 'broker-a');
    f.groups.put('dlq-reader');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.body.toString()).toBe('poison');
    expect(dead[0]!.messageId).toBe(d1[0]!.messageId);
    expect(dead[0]!.properties).toMatchObject({
      [DlqProperties.ORIGIN_TOPIC]: 'One',
      [DlqProperties.ORIGIN_QUEUE_ID]: '0',
      [DlqProperties.ORIGIN_QUEUE_OFFSET]: '0',
      [DlqProperties.DELIVERY_ATTEMPTS]: '2',
    });
  });

  it('long polling: a message sent while a receive waits reaches it at once, and wakes one receive of the group, not all', async () => {
    const a = pop({ topic: 'One', waitMs: 15_000 });
    // a parks first: two receives sent together on one remoting connection are dispatched in the same tick, in no set order.
    await waitFor('a parked', 5_000, async () => f.popService.polling.parked() === 1, 5);
    const b = pop({ topic: 'One', waitMs: 1_500 });
    await waitFor('two parked receives', 5_000, async () => f.popService.polling.parked() === 2, 5);
    const t0 = performance.now();
    await f.send('One', 0, ['hello']);
    const got = await a;
    const latency = performance.now() - t0;
    console.log(`long polling: send to a parked receive's answer in ${latency.toFixed(1)} ms`);
    expect(got.map((m) => m.body.toString())).toEqual(['hello']);
    // Tens of ms on a busy machine; measured ~2-5 ms idle.
    expect(latency).toBeLessThan(250);
    expect(await b).toHaveLength(0);
  });

  it('orderly group: the queue is leased whole until its batch is acked; an expired batch comes back in place, same offsets, attempt + 1', async () => {
    f.groups.put('g1', { orderly: true });
    await f.send('One', 0, ['a', 'b', 'c', 'd']);
    const first = await pop({ topic: 'One', max: 2, invisibleMs: 1_000 });
    expect(first.map((m) => m.body.toString())).toEqual(['a', 'b']);
    expect(await pop({ topic: 'One' })).toHaveLength(0);
    const again = await pop({ topic: 'One', waitMs: 10_000 });
    expect(again.map((m) => [m.body.toString(), m.deliveryAttempt])).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    expect(await pop({ topic: 'One' })).toHaveLength(0);
    await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [again[0]!.receiptHandle] });
    expect(await pop({ topic: 'One' })).toHaveLength(0);
    await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [again[1]!.receiptHandle] });
    expect((await pop({ topic: 'One' })).map((m) => m.body.toString())).toEqual(['c', 'd']);
  });

  it('consumeFrom: latest skips what was stored before the group existed, earliest reads it, a timestamp starts there', async () => {
    await f.send('One', 0, ['old1', 'old2']);
    const mid = Date.now() + 1;
    await waitFor('the clock to move', 1_000, async () => Date.now() > mid, 1);
    await f.send('One', 0, ['new1']);
    f.groups.put('late', { consumeFrom: 'latest', createdAt: mid });
    f.groups.put('early', { consumeFrom: 'earliest' });
    f.groups.put('at', { consumeFrom: mid });
    expect((await pop({ topic: 'One', group: 'late' })).map((m) => m.body.toString())).toEqual(['new1']);
    expect((await pop({ topic: 'One', group: 'early' })).map((m) => m.body.toString())).toEqual(['old1', 'old2', 'new1']);
    expect((await pop({ topic: 'One', group: 'at' })).map((m) => m.body.toString())).toEqual(['new1']);
  });

  it('filters by tag: other tags are skipped and the cursor moves past them', async () => {
    await f.send('One', 0, [
      { body: 'x', tags: 'A' },
      { body: 'y', tags: 'B' },
      { body: 'z', tags: 'A' },
    ]);
    expect((await pop({ topic: 'One', filter: 'A' })).map((m) => m.body.toString())).toEqual(['x', 'z']);
    expect((await f.client.progress('One', 'g1')).queues[0]!.cursor).toBe(3);
  });

  it('a topic deleted and created again: the group starts over on its new offsets instead of skipping them', async () => {
    await f.send('One', 0, ['a', 'b', 'c']);
    const got = await pop({ topic: 'One' });
    await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: got.map((m) => m.receiptHandle) });
    await f.store.deleteTopic('One', 1);
    f.popService.forgetTopic('One');
    await f.send('One', 0, ['new']);
    expect((await pop({ topic: 'One' })).map((m) => [m.body.toString(), m.queueOffset])).toEqual([['new', 0]]);
  });

  it('commit never moves back; reset moves anywhere and ends the leases in flight', async () => {
    await f.send('One', 0, ['a', 'b', 'c']);
    const got = await pop({ topic: 'One' });
    let p = await f.client.commitOffset({ topic: 'One', group: 'g1', queueId: 0, offset: 2 });
    expect(p.queues[0]).toMatchObject({ committedOffset: 2, inFlight: 1 });
    p = await f.client.commitOffset({ topic: 'One', group: 'g1', queueId: 0, offset: 1 });
    expect(p.queues[0]!.committedOffset).toBe(2);
    expect(await errorOf(f.client.commitOffset({ topic: 'One', group: 'g1', queueId: 0, offset: 99 }))).toMatchObject({ status: 400 });
    p = await f.client.resetOffset({ topic: 'One', group: 'g1', to: 'earliest' });
    expect(p.queues[0]).toMatchObject({ committedOffset: 0, cursor: 0, inFlight: 0 });
    const res = await f.client.ack({ topic: 'One', group: 'g1', receiptHandles: [got[2]!.receiptHandle] });
    expect(res.results[0]).toMatchObject({ error: { code: 'RECEIPT_HANDLE_EXPIRED' } });
    expect((await pop({ topic: 'One' })).map((m) => [m.body.toString(), m.deliveryAttempt])).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
    p = await f.client.resetOffset({ topic: 'One', group: 'g1', to: 'latest' });
    expect(p.queues[0]).toMatchObject({ committedOffset: 3, inFlight: 0, lag: 0 });
  });
});
