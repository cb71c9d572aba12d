/**
 * bench:produce's load generators count only what was acknowledged: the wrk script per result
 * status, the lean JetStream client only stream acks, the lean Redis client only entry ids.
 * Each runs against the real server (skipped when it is not installed).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamLean } from './jetstream-lean';
import { hasNatsServer, NatsPeer } from './nats-peer';
import { hasRedisServer, RedisPeer } from './redis-peer';
import { RedisStreamLean } from './redis-stream-lean';
import { RespConnection } from './resp-lean';
import { hasWrk, wrkPost } from './wrk';

const body = Buffer.alloc(1024, 'x');

/** Publishes `n` messages and resolves with how many were acknowledged. */
function publishAll(p: { publish(count: number, done: (ok: boolean) => void): void }, n: number): Promise<{ ok: number; failed: number }> {
  return new Promise((resolve) => {
    let ok = 0;
    let failed = 0;
    p.publish(n, (acked) => {
      if (acked) ok++;
      else failed++;
      if (ok + failed === n) resolve({ ok, failed });
    });
  });
}

describe.skipIf(!hasWrk())('wrk with produce-wrk.lua', () => {
  let server: http.Server;
  let answered = 0;
  beforeAll(async () => {
    // 30 SEND_OK and 2 other statuses per 200 answer; every 5th request a 503.
    const results = JSON.stringify({
      results: [
        ...Array.from({ length: 30 }, (_, i) => ({ status: 'SEND_OK', messageId: `ID${i}`, broker: 'broker-a', queueId: 0, queueOffset: i })),
        { status: 'FLUSH_DISK_TIMEOUT', messageId: 'IDx', broker: 'broker-a', queueId: 0, queueOffset: 30 },
        { status: 'FAILED', error: { code: 'BROKER_BUSY', message: 'busy' } },
      ],
    });
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answered++;
        if (answered % 5 === 0) res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"BUSY"}}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end(results);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('counts SEND_OK per result, and every other result and non-200 answer as failed', async () => {
    const { port } = server.address() as AddressInfo;
    const r = await wrkPost(`http://127.0.0.1:${port}/v1/topics/bench/messages`, '{"messages":[]}', 4, 1000, 32);
    const not200 = Math.floor(r.samples / 5);
    expect(r.samples).toBeGreaterThan(50);
    expect(r.samples).toBeLessThanOrEqual(answered);
    // wrk's requests interleave over 4 connections, so which ones got the 503s is the server's
    // order: recover the split from the totals, which must be consistent with it.
    const ok200 = r.ok / 30;
    expect(Number.isInteger(ok200)).toBe(true);
    expect(r.failed).toBe(2 * ok200 + 32 * (r.samples - ok200));
    expect(Math.abs(r.samples - ok200 - not200)).toBeLessThanOrEqual(6);
    expect(r.samples - ok200).toBeGreaterThan(0);
    expect(r.firstFailure).toBeDefined();
    expect(r.clientCpuSec).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasNatsServer())('JetStreamLean', () => {
  let nats: NatsPeer;
  beforeAll(async () => {
    nats = await NatsPeer.start();
  });
  afterAll(async () => nats?.stop());

  it('counts stream acks, and a publish no stream takes as failed', async () => {
    const stored = await JetStreamLean.connect(nats.address, 'bench.orders', body);
    expect(await publishAll(stored, 500)).toEqual({ ok: 500, failed: 0 });
    await stored.close();
    // No stream covers this subject: no stream ack comes back, only "no responders".
    const lost = await JetStreamLean.connect(nats.address, 'elsewhere', body);
    expect(await publishAll(lost, 3)).toEqual({ ok: 0, failed: 3 });
    await lost.close();
  });
});

describe.skipIf(!hasRedisServer())('RedisStreamLean', () => {
  let redis: RedisPeer;
  beforeAll(async () => {
    redis = await RedisPeer.start('always');
  });
  afterAll(async () => redis?.stop());

  it('counts entry ids, each acknowledged message is in the stream, and an error reply is a failure', async () => {
    const p = await RedisStreamLean.connect(redis.address, 'bench', body, 4);
    // More than one prebuilt block and more than one connection's share in one publish.
    expect(await publishAll(p, 1500)).toEqual({ ok: 1500, failed: 0 });
    const one = () => publishAll(p, 1);
    const singles = await Promise.all(Array.from({ length: 100 }, one));
    expect(singles.every((s) => s.ok === 1)).toBe(true);
    await p.close();
    const c = await RespConnection.connect(redis.address);
    expect(await c.command(['XLEN', 'bench'])).toBe(1600);
    await c.command(['SET', 'plain', 'x']);
    c.close();
    const wrongType = await RedisStreamLean.connect(redis.address, 'plain', body, 2);
    expect(await publishAll(wrongType, 5)).toEqual({ ok: 0, failed: 5 });
    await wrongType.close();
  });
});
