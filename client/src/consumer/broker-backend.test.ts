/**
 * The direct receive's long poll over several brokers, against two scripted brokers (real
 * HTTP servers): the first broker to answer with messages is the answer, what another leases
 * later is released at once (invisibleMs 0), and close() waits for that release.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePopResult } from '../api/broker-client.js';
import type { NameServerApi } from '../api/nameserver-client.js';
import { encodeRecord, recordSize, stampRecord } from '../codec/record.js';
import { silentLogger } from '../logger.js';
import { RouteCache } from '../route/route-cache.js';
import { BrokerConsumeBackend } from './broker-backend.js';

interface Script {
  /** Per pop: ms before the answer when waitMs > 0, at most waitMs (0-wait pops answer empty at once). */
  delayMs: number;
  hasMessage: boolean;
}

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A broker that answers pops as scripted and records change-invisibility entries. */
async function scriptedBroker(name: string, script: Script, released: { broker: string; invisibleMs: number }[]): Promise<string> {
  const server = http.createServer((req, res) => {
    // An older broker: it knows no remoting, so the client's upgrade gets a 404 and the calls go over HTTP.
    if (req.url === '/v1/remoting') return void res.writeHead(404).end();
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const json = JSON.parse(body || '{}');
      if (req.url === '/v1/consume/pop') {
        const answer = (withMessage: boolean) => {
          const records = withMessage ? record(name) : Buffer.alloc(0);
          const meta = { messages: withMessage ? [{ receiptHandle: `${name}~h`, deliveryAttempt: 1, queueId: 0, queueOffset: 0 }] : [] };
          res.end(encodePopResult(meta, records));
        };
        if (json.waitMs === 0) return answer(false);
        setTimeout(() => answer(script.hasMessage), Math.min(script.delayMs, json.waitMs));
        return;
      }
      if (req.url === '/v1/consume/change-invisibility') {
        for (const e of json.entries) released.push({ broker: name, invisibleMs: e.invisibleMs });
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ results: json.entries.map(() => ({ status: 'OK', receiptHandle: `${name}~h2` })) }));
      }
      res.statusCode = 404;
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function record(body: string): Buffer {
  const buf = Buffer.alloc(recordSize(body.length, 1, 0));
  const size = encodeRecord(buf, 0, { queueId: 0, sysFlag: 0, bornTimestamp: 1, reconsumeTimes: 0, body: Buffer.from(body), topic: 't', properties: '' });
  stampRecord(buf, 0, size, 0, 0, 0, 1);
  return buf;
}

function nameServerFor(addrs: Record<string, string>): NameServerApi {
  const route = {
    topic: 't',
    queueDatas: Object.keys(addrs).map((brokerName) => ({ brokerName, readQueueNums: 1, writeQueueNums: 1, perm: 6 })),
    brokerDatas: Object.entries(addrs).map(([brokerName, addr]) => ({ cluster: 'c', brokerName, brokerAddrs: { '0': addr } })),
    filterServerTable: {},
  };
  return { getRouteInfoByTopic: async () => route } as unknown as NameServerApi;
}

describe('BrokerConsumeBackend long polling', () => {
  it('answers with the first broker that has a message and releases what another leases later', async () => {
    const released: { broker: string; invisibleMs: number }[] = [];
    const a = await scriptedBroker('a', { delayMs: 400, hasMessage: true }, released);
    const b = await scriptedBroker('b', { delayMs: 50, hasMessage: true }, released);
    const nameServer = nameServerFor({ a, b });
    const backend = new BrokerConsumeBackend({ nameServer, routes: new RouteCache(nameServer), logger: silentLogger });
    const started = Date.now();
    const got = await backend.receive({ topic: 't', group: 'g', max: 32, invisibleMs: 30_000, waitMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(400);
    expect(got.map((m) => [m.brokerName, m.body.toString()])).toEqual([['b', 'b']]);
    expect(released).toEqual([]);
    // close() holds the connections until a's late answer was released.
    backend.close();
    const until = Date.now() + 5_000;
    while (released.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(released).toEqual([{ broker: 'a', invisibleMs: 0 }]);
  });

  it('answers empty when every broker waited and found nothing', async () => {
    const released: { broker: string; invisibleMs: number }[] = [];
    const a = await scriptedBroker('a', { delayMs: 60_000, hasMessage: false }, released);
    const b = await scriptedBroker('b', { delayMs: 60_000, hasMessage: false }, released);
    const nameServer = nameServerFor({ a, b });
    const backend = new BrokerConsumeBackend({ nameServer, routes: new RouteCache(nameServer), logger: silentLogger });
    const started = Date.now();
    expect(await backend.receive({ topic: 't', group: 'g', max: 32, invisibleMs: 30_000, waitMs: 300 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    backend.close();
    expect(released).toEqual([]);
  });
});
