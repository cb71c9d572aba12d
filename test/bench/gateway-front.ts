/**
 * npx tsx --conditions=cirrusmq-source test/bench/gateway-front.ts [--runs 3 --seconds 3 --connections 16 --servers front,hot,hono --routes send,receive,ack]
 *
 * The gateway's HTTP front alone: CPU per request of this process serving the hot routes
 * (send 32 × 1 KB, receive 32 × 1 KB, ack 32 handles) through the front server
 * (front/front-server.ts), through node:http with the hot-route listener (hot-routes.ts) and
 * through Hono alone (the listener before it), alternating, with wrk as the client in its own
 * process. No broker or NameServer: the producer's send, the route cache and the brokers'
 * POP and ack answer at once from memory (canned answers), so what is measured is the HTTP
 * server, the routing, the request's parse, the gateway's own checks, the answer's encode and
 * the metrics: what the listener changes. CPU is process.cpuUsage(), user + system.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { getRequestListener } from '@hono/node-server';
import { encodePopResult, encodeProperties, encodeRecord, MessageConst, recordSize, stampRecord } from '@cirrusmq/client/protocol';
import { createGatewayApp } from '../../functions/gateway/src/app';
import { loadGatewayConfig } from '../../functions/gateway/src/config';
import { createGatewayDeps } from '../../functions/gateway/src/create-deps';
import { frontServer, nodeExchangeListener } from '../../functions/gateway/src/front/front-server';
import { hotRouter, hotRoutesListener } from '../../functions/gateway/src/hot-routes';
import { hasWrk } from './wrk';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    servers: { type: 'string', default: 'front,hot,hono' },
    routes: { type: 'string', default: 'send,receive,ack' },
  },
});
if (!hasWrk()) throw new Error('wrk not found (apt-get install wrk)');
const BATCH = 32;
const body = Buffer.alloc(1024, 'cirrusmq-benchmark-payload-');

const deps = createGatewayDeps(loadGatewayConfig({ CIRRUSMQ_NAMESRV_ADDR: '127.0.0.1:1', CIRRUSMQ_LOG_LEVEL: 'warn' }));
const info = {
  route: { queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 }] },
  brokerAddrs: new Map([['broker-a', 'broker-a:1']]),
};
const mq = { topic: 'bench', brokerName: 'broker-a', queueId: 0 };
let offset = 0;
const handleOf = (n: number) => `v2.broker-a.${Buffer.alloc(26, n).toString('base64url')}`;
const popAnswer = popResultOf();
Object.assign(deps.routes, { get: async () => info, refresh: async () => info });
Object.assign(deps.producer, {
  resolveRoute: async () => info,
  sendPrepared: async (batch: { prepared: { messageId: string }[] }) =>
    batch.prepared.map((p) => ({ status: 'SEND_OK', messageId: p.messageId, messageQueue: mq, queueOffset: offset++ })),
});
Object.assign(deps.brokers, {
  get: () => ({
    popRaw: async () => popAnswer,
    ack: async (req: { receiptHandles: string[] }) => ({ results: req.receiptHandles.map(() => ({ status: 'OK' })) }),
  }),
});

const hono = getRequestListener(createGatewayApp(deps).fetch);
const router = hotRouter(deps);
const servers: Record<string, net.Server> = {
  front: frontServer(router, http.createServer(nodeExchangeListener(hotRoutesListener(router, hono)))),
  hot: http.createServer(hotRoutesListener(router, hono)),
  hono: http.createServer(hono),
};
const ports: Record<string, number> = {};
for (const [name, server] of Object.entries(servers)) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ports[name] = (server.address() as AddressInfo).port;
}

const sendBody = JSON.stringify({ messages: Array.from({ length: BATCH }, () => ({ body: body.toString('utf8'), tags: 'TagA' })) });
const routes = {
  send: { path: '/v1/topics/bench/messages', body: sendBody },
  receive: { path: '/v1/topics/bench/groups/g/receive', body: JSON.stringify({ max: BATCH, invisibleSeconds: 30, waitSeconds: 0 }) },
  ack: { path: '/v1/topics/bench/groups/g/ack', body: JSON.stringify({ receiptHandles: Array.from({ length: BATCH }, (_, i) => handleOf(i)) }) },
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-gateway-front-'));
const script = path.join(dir, 'post.lua');
fs.writeFileSync(
  script,
  'local f = io.open(os.getenv("WRK_BODY_FILE")); local b = f:read("*a"); f:close()\n' +
    'wrk.method = "POST"; wrk.body = b; wrk.headers["Content-Type"] = "application/json"\n' +
    'local bad = 0\nfunction response(status) if status ~= 200 then bad = bad + 1 end end\n' +
    'function done() io.write("non200 " .. bad .. "\\n") end\n',
);
const run = promisify(execFile);

/** µs of this process's CPU per request answered, for one wrk run. */
async function measure(server: string, route: keyof typeof routes): Promise<{ us: number; rps: number }> {
  const bodyFile = path.join(dir, `${route}.json`);
  fs.writeFileSync(bodyFile, routes[route].body);
  const before = process.cpuUsage();
  const { stdout } = await run(
    'wrk',
    ['-t1', `-c${values.connections}`, `-d${values.seconds}s`, '-s', script, `http://127.0.0.1:${ports[server]}${routes[route].path}`],
    {
      env: { ...process.env, WRK_BODY_FILE: bodyFile },
    },
  );
  const cpu = process.cpuUsage(before);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  const bad = Number(/non200 (\d+)/.exec(stdout)?.[1]);
  if (!requests || bad > 0) throw new Error(`wrk: ${stdout}`);
  return { us: (cpu.user + cpu.system) / requests, rps: requests / Number(values.seconds) };
}

try {
  const chosen = values.routes!.split(',') as (keyof typeof routes)[];
  const order = values.servers!.split(',');
  for (const route of chosen) for (const server of order) await measure(server, route); // warm-up
  const results: Record<string, number[]> = {};
  for (let i = 1; i <= Number(values.runs); i++) {
    for (const route of chosen) {
      for (const server of i % 2 ? order : [...order].reverse()) {
        const r = await measure(server, route);
        (results[`${route} ${server}`] ??= []).push(r.us);
        console.log(
          `run ${i} ${route.padEnd(7)} ${server.padEnd(4)} ${r.us.toFixed(1)} µs CPU/request, ${Math.round(r.rps)} requests/s; load ${os.loadavg()[0]!.toFixed(1)}`,
        );
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const route of chosen) {
    const figures = order.map((server) => `${server} ${median(results[`${route} ${server}`]!).toFixed(1)}`);
    const last = order[order.length - 1]!;
    const ratios = order
      .slice(0, -1)
      .map((server) => `${server}/${last} ${(median(results[`${route} ${server}`]!) / median(results[`${route} ${last}`]!)).toFixed(2)}`);
    console.log(`${route.padEnd(7)} median µs CPU/request: ${figures.join(', ')}${ratios.length > 0 ? ` (${ratios.join(', ')})` : ''}`);
  }
} finally {
  for (const server of Object.values(servers)) server.close();
  deps.producer.shutdown();
  deps.brokers.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A POP answer of BATCH 1 KB messages, as a broker sends it. */
function popResultOf(): Buffer {
  const records = Array.from({ length: BATCH }, (_, i) => {
    const properties = encodeProperties({ [MessageConst.TAGS]: 'TagA', [MessageConst.UNIQ_KEY]: `ID${i}` });
    const size = recordSize(body.length, 'bench'.length, Buffer.byteLength(properties));
    const buf = Buffer.alloc(size);
    encodeRecord(buf, 0, { queueId: 0, sysFlag: 0, bornTimestamp: 1, reconsumeTimes: 0, body, topic: 'bench', properties });
    stampRecord(buf, 0, size, 0, i, 0, 2);
    return buf;
  });
  return encodePopResult({ messages: records.map((_, i) => ({ receiptHandle: handleOf(i), deliveryAttempt: 1, queueId: 0, queueOffset: i })) }, records);
}
