import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BrokerClients,
  type BrokerTransactionCheck,
  type ClusterBrokerInfo,
  encodeTransactionId,
  type NameServerApi,
  silentLogger,
} from '@cirrusmq/client/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../infra/local/wait-for';
import { MasterBrokers } from './master-brokers';
import { TransactionChecks } from './transaction-checks';

/** A broker's GET /v1/transaction/checks: parks each poll until a check is queued for its group, and records them. */
async function fakeBroker() {
  const parked: { group: string; res: http.ServerResponse; closed: boolean }[] = [];
  const queued = new Map<string, BrokerTransactionCheck[]>();
  const server = http.createServer((req, res) => {
    // An older broker: it knows no remoting, so the client's upgrade gets a 404 and the calls go over HTTP.
    if (req.url === '/v1/remoting') return void res.writeHead(404).end();
    const url = new URL(req.url!, 'http://x');
    const poll = { group: url.searchParams.get('producerGroup')!, res, closed: false };
    res.on('close', () => (poll.closed = true));
    parked.push(poll);
    flush();
  });
  const flush = () => {
    for (const p of parked) {
      const checks = queued.get(p.group);
      if (p.closed || p.res.headersSent || !checks?.length) continue;
      queued.delete(p.group);
      p.res.end(JSON.stringify({ checks }));
    }
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: (group?: string) => parked.filter((p) => !p.closed && !p.res.headersSent && (group === undefined || p.group === group)).length,
    offer(group: string, checks: BrokerTransactionCheck[]) {
      queued.set(group, [...(queued.get(group) ?? []), ...checks]);
      flush();
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function check(group: string, messageId: string): BrokerTransactionCheck {
  return {
    transactionId: encodeTransactionId('broker-a', messageId),
    messageId,
    topic: group,
    queueId: 0,
    producerGroup: group,
    checkTimes: 1,
    bornTimestamp: 1_700_000_000_000,
    storeTimestamp: 1_700_000_000_100,
    body: Buffer.from('half').toString('base64'),
    bodyEncoding: 'base64',
    keys: [],
    properties: {},
  };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(connected: Set<string>) {
  const broker = await fakeBroker();
  const nameServer = { getCluster: async () => [{ brokerName: 'broker-a', brokerId: 0, alive: true, addr: broker.addr } as ClusterBrokerInfo] };
  const written: { clientId: string; command: any }[] = [];
  const checks = new TransactionChecks(
    new MasterBrokers(nameServer as unknown as NameServerApi),
    new BrokerClients(),
    (clientId, command) => connected.has(clientId) && written.push({ clientId, command }) > 0,
    silentLogger,
    { waitMs: 30_000, retryMs: 50 },
  );
  cleanups.push(() => checks.close(), broker.close);
  return { broker, checks, written };
}

describe('TransactionChecks', () => {
  it('keeps one poll per group and broker however many producers watch it, and hands checks out round robin', async () => {
    const { broker, checks, written } = await setup(new Set(['c1', 'c2']));
    checks.watch('c1', ['orders']);
    checks.watch('c2', ['orders']);
    checks.watch('c1', ['orders']);
    await waitFor('a poll parked', 5_000, async () => broker.open('orders') === 1);
    expect(checks.polls).toBe(1);
    broker.offer('orders', [check('orders', 'AA01'), check('orders', 'AA02')]);
    await waitFor('both checks written', 5_000, async () => written.length === 2);
    expect(written.map((w) => w.clientId).sort()).toEqual(['c1', 'c2']);
    expect(written[0]!.command.recover_orphaned_transaction_command.transaction_id).toBe(encodeTransactionId('broker-a', 'AA01'));
    // The loop polls again after an answer.
    await waitFor('the next poll parked', 5_000, async () => broker.open('orders') === 1);
  });

  it('skips a producer whose stream is gone, drops a check nobody can take, and stops the poll when the last producer leaves', async () => {
    const connected = new Set(['c2']);
    const { broker, checks, written } = await setup(connected);
    checks.watch('c1', ['orders']);
    checks.watch('c2', ['orders']);
    await waitFor('a poll parked', 5_000, async () => broker.open('orders') === 1);
    broker.offer('orders', [check('orders', 'BB01'), check('orders', 'BB02')]);
    await waitFor('both checks written to c2', 5_000, async () => written.length === 2);
    expect(written.every((w) => w.clientId === 'c2')).toBe(true);

    connected.clear();
    await waitFor('the next poll parked', 5_000, async () => broker.open('orders') === 1);
    broker.offer('orders', [check('orders', 'BB03')]);
    await waitFor('the check dropped', 5_000, async () => checks.dropped === 1);

    checks.unwatch('c1');
    await waitFor('the next poll parked', 5_000, async () => broker.open('orders') === 1);
    expect(checks.polls).toBe(1);
    checks.unwatch('c2');
    expect(checks.polls).toBe(0);
    // The parked request is aborted, not left to run out its wait.
    await waitFor('the parked poll closed', 5_000, async () => broker.open('orders') === 0);
  });
});
