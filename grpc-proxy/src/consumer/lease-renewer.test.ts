/** The renewer against a real broker's consume routes (PopFixture: store, PopService, HTTP server). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerClients, silentLogger } from '@cirrusmq/client/protocol';
import { PopFixture } from '../../../broker-node/src/testing/pop-fixture';
import { waitFor } from '../../../infra/local/wait-for';
import { LeaseRenewer } from './lease-renewer.js';

const LEASE_MS = 1_500;
let f: PopFixture;
let brokers: BrokerClients;
let renewer: LeaseRenewer | undefined;

beforeEach(async () => {
  f = await new PopFixture().start();
  f.nameServer.addTopic('T', 1);
  brokers = new BrokerClients();
});

afterEach(async () => {
  renewer?.stop();
  brokers.close();
  await f.close();
});

const pop = (waitMs = 0) => f.client.pop({ topic: 'T', group: 'g', max: 32, invisibleMs: LEASE_MS, waitMs }, 'broker-a');

async function leaseOne(): Promise<{ handle: string; until: number }> {
  await f.send('T', 0, ['m0']);
  const [m] = await pop();
  return { handle: m!.receiptHandle, until: Date.now() + LEASE_MS };
}

describe('LeaseRenewer', () => {
  it('keeps a held lease alive past its invisibility, and the handle it hands back acks it', { timeout: 20_000 }, async () => {
    renewer = new LeaseRenewer(brokers, () => true, silentLogger, { invisibleMs: LEASE_MS, aheadMs: 1_000, periodMs: 100 });
    const { handle, until } = await leaseOne();
    renewer.hold('client-1', f.client.addr, 'T', 'g', [handle]);
    await waitFor('two leases later', 10_000, async () => Date.now() > until + 2 * LEASE_MS);
    // Not redelivered: still leased.
    expect(await pop()).toEqual([]);
    const current = await renewer.take(handle);
    expect(current).not.toBe(handle);
    expect(renewer.size).toBe(0);
    expect((await f.client.ack({ topic: 'T', group: 'g', receiptHandles: [current] })).results[0]!.status).toBe('OK');
    expect((await f.client.progress('T', 'g')).queues[0]).toMatchObject({ inFlight: 0, committedOffset: 1 });
  });

  it('stops renewing once the client is gone: the message comes back to the group as its next attempt', { timeout: 20_000 }, async () => {
    let alive = true;
    renewer = new LeaseRenewer(brokers, () => alive, silentLogger, { invisibleMs: LEASE_MS, aheadMs: 1_000, periodMs: 100 });
    const { handle } = await leaseOne();
    renewer.hold('client-1', f.client.addr, 'T', 'g', [handle]);
    alive = false;
    const again = await pop(10_000);
    expect(again.map((m) => m.deliveryAttempt)).toEqual([2]);
    await waitFor('the lease dropped', 5_000, async () => renewer!.size === 0);
  });

  it('hands back an unknown handle as it is', async () => {
    renewer = new LeaseRenewer(brokers, () => true, silentLogger, { invisibleMs: LEASE_MS });
    expect(await renewer.take('v2.broker-a.x')).toBe('v2.broker-a.x');
  });
});
